package paging

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/hdp-il/fhir-pep/fhir"
)

// ErrBundle: the body given to RewriteBundleLinks is not a JSON object, or
// its top-level link member is ambiguous (two members that fold to "link",
// or a key spelled with escapes). The caller answers 502, as for any
// upstream body it cannot check.
var ErrBundle = errors.New("paging: upstream Bundle unusable")

// RewriteBundleLinks replaces the top-level "link" member of an upstream
// Bundle (a body whose top-level resourceType is the string "Bundle"; any
// other body is returned as it is) with RewriteLinkArray's result: the self link, then the sealed
// paging links. A Bundle without links gets one when self is set; a link
// member with nothing left is removed. Everything else in the body is kept
// byte for byte; nested links (Bundle.entry.link) are not touched.
//
// It validates and scans the whole body. The PEP does not call it: it
// hands RewriteLinkArray to the response check (enforce.FilterOptions.Links),
// whose one walk over the body finds the member, and checks the result
// like any link. This whole-body form is the reference that walk is
// tested against.
func (s *Sealer) RewriteBundleLinks(body []byte, self, origin string, b Binding) ([]byte, error) {
	return spliceBundleLinks(body, func(raw []byte) ([]byte, error) {
		return s.RewriteLinkArray(raw, self, origin, b)
	})
}

// SelfOnlyBundleLinks replaces the top-level "link" member of an upstream
// Bundle with one self link (none when self is empty, and then the member
// is removed): every upstream link goes, paging links included, unsealed.
// It is for Bundles whose paging links cannot be bound to a decision a
// page request could make again: the searchsets inside a batch-response,
// decided as entries of the batch. Like RewriteBundleLinks it leaves any
// other body as it is and keeps everything else byte for byte.
func SelfOnlyBundleLinks(body []byte, self string) ([]byte, error) {
	return spliceBundleLinks(body, func(raw []byte) ([]byte, error) {
		return SelfOnlyLinkArray(raw, self)
	})
}

// SelfOnlyLinkArray is SelfOnlyBundleLinks over the raw JSON of
// Bundle.link (an array), as RewriteLinkArray is for RewriteBundleLinks:
// the array of the one self link, or nil when self is empty. raw that is
// not a JSON array is fhir.ErrInvalidBody.
func SelfOnlyLinkArray(raw []byte, self string) ([]byte, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("null")) {
		return nil, fhir.ErrInvalidBody
	}
	if self == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode([]Link{{Relation: "self", URL: self}}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// spliceBundleLinks replaces the top-level link array of a Bundle body
// with what rewrite makes of it (its raw JSON, "[]" when there is none);
// a nil result removes the member.
func spliceBundleLinks(body []byte, rewrite func(raw []byte) ([]byte, error)) ([]byte, error) {
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
