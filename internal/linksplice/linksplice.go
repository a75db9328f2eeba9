// Package linksplice is the whole-body reference form of the Bundle link
// rewrite, for tests only.
//
// The PEP rewrites a searchset's top-level link member inside the response
// check's one walk over the body (enforce.FilterOptions.Links). Before that,
// a separate pass validated the whole body, found the member with a lenient
// scan and spliced the rewritten array in; that pass is kept here, frozen,
// as the oracle the check's walk is differential-tested against
// (enforce/links_splice_test.go) and as the fixture of paging's own tests of
// its link arrays. Nothing outside tests imports it.
package linksplice

import (
	"encoding/json"
	"errors"
	"slices"
)

// ErrBundle: the body is not a JSON object, or its top-level link member is
// ambiguous (two members that fold to "link", or a key spelled with escapes
// or non-ASCII bytes). The old pipeline answered 502, as for any upstream
// body it cannot check.
var ErrBundle = errors.New("linksplice: upstream Bundle unusable")

// Splice replaces the top-level "link" member of an upstream Bundle (a body
// whose top-level resourceType is the string "Bundle"; any other body is
// returned as it is) with what rewrite makes of its raw JSON ("[]" when
// there is none); a nil result removes the member. A Bundle without links
// gets one when rewrite returns one. Everything else in the body is kept
// byte for byte; nested links (Bundle.entry.link) are not touched.
func Splice(body []byte, rewrite func(raw []byte) ([]byte, error)) ([]byte, error) {
	// The splice below relies on a lenient scan of the top level; valid
	// JSON makes it exact (enforce later checks the result strictly).
	if !json.Valid(body) {
		return nil, ErrBundle
	}
	rt, err := topLevelMember(body, "resourceType")
	if err != nil {
		return nil, err
	}
	if !rt.found || string(body[rt.valueStart:rt.valueEnd]) != `"Bundle"` {
		return body, nil
	}
	m, err := topLevelMember(body, "link")
	if err != nil {
		return nil, err
	}
	var raw []byte
	if m.found {
		raw = body[m.valueStart:m.valueEnd]
	} else {
		raw = []byte("[]")
	}
	links, err := rewrite(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case m.found && links != nil:
		return slices.Concat(body[:m.valueStart], links, body[m.valueEnd:]), nil
	case m.found:
		return slices.Concat(body[:m.removeStart], body[m.removeEnd:]), nil
	case links != nil:
		member := slices.Concat([]byte(`"link":`), links)
		if m.empty {
			return slices.Concat(body[:m.open+1], member, body[m.open+1:]), nil
		}
		return slices.Concat(body[:m.open+1], member, []byte(","), body[m.open+1:]), nil
	}
	return body, nil
}

// member locates one member of the top-level object.
type member struct {
	found                bool
	valueStart, valueEnd int // the value
	// removeStart:removeEnd is the member with one adjacent comma, so that
	// cutting it leaves valid JSON.
	removeStart, removeEnd int
	open                   int  // offset of the top-level "{"
	empty                  bool // the object has no members
}

// topLevelMember finds the member of the top-level object whose key is
// name under ASCII case folding, the folding enforce and encoding/json
// apply to member names. body must be valid JSON.
func topLevelMember(body []byte, name string) (member, error) {
	var m member
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return m, ErrBundle
	}
	m.open = i
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		m.empty = true
		return m, nil
	}
	prevEnd := -1 // end of the previous member's value
	for {
		keyStart := i
		keyEnd := skipString(body, i)
		key := body[keyStart+1 : keyEnd-1]
		if slices.ContainsFunc(key, func(c byte) bool { return c == '\\' || c >= 0x80 }) {
			// Valid FHIR member names are plain ASCII; an escaped or
			// non-ASCII one could spell "link" in a way only a lenient
			// client reads ("lin\u212a": encoding/json folds the Kelvin
			// sign to k).
			return m, ErrBundle
		}
		i = skipSpace(body, keyEnd)
		i = skipSpace(body, i+1) // ':'
		vStart := i
		vEnd := skipValue(body, i)
		i = skipSpace(body, vEnd)
		if asciiFoldEqual(key, name) {
			if m.found {
				return m, ErrBundle
			}
			m.found, m.valueStart, m.valueEnd = true, vStart, vEnd
			if body[i] == ',' {
				m.removeStart, m.removeEnd = keyStart, skipSpace(body, i+1)
			} else if prevEnd >= 0 {
				m.removeStart, m.removeEnd = prevEnd, vEnd
			} else {
				m.removeStart, m.removeEnd = keyStart, vEnd
			}
		}
		if body[i] == '}' {
			return m, nil
		}
		prevEnd = vEnd
		i = skipSpace(body, i+1) // ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the offset after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

func asciiFoldEqual(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
