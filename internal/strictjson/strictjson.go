// Package strictjson holds the one check that makes a JSON document mean
// the same thing to every parser: exactly one value, valid UTF-8, bounded
// nesting, and no object anywhere that repeats a member name.
//
// encoding/json keeps the last of duplicate members, other parsers keep
// the first, and it silently replaces invalid UTF-8; a signed NTN
// manifest, a PCM introspection answer or a FHIR batch that two parsers
// read differently ({"active":false,"active":true}) is an attack, so
// those documents pass Check before anything decodes them.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Errors of Check. A duplicate member is a *DuplicateError.
var (
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	ErrSyntax      = errors.New("invalid JSON")
	ErrTooDeep     = errors.New("JSON nested too deeply")
	ErrTrailing    = errors.New("trailing data after the JSON value")
	ErrNotObject   = errors.New("not a JSON object")
)

// DuplicateError names a member that appears twice in one object.
type DuplicateError struct {
	// Name is the member name, cut to 40 bytes: it comes from the
	// document and ends up in messages.
	Name string
}

func (e *DuplicateError) Error() string { return fmt.Sprintf("duplicate member %q", e.Name) }

// maxNameInError bounds the member name a DuplicateError carries.
const maxNameInError = 40

// Check reports whether data is exactly one JSON value in valid UTF-8,
// nested at most maxDepth objects and arrays deep, in which no object
// repeats a member name. Member names are compared exactly, as the
// documents' schemas define them (case-sensitively). The walk is
// iterative, so hostile nesting cannot exhaust the stack.
func Check(data []byte, maxDepth int) error {
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are only skipped; never round them through float64
	type frame struct {
		names    map[string]struct{} // nil for an array
		wantName bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ErrSyntax // io.EOF too: the value is incomplete or absent
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantName {
			top := &stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
			} else {
				name, ok := tok.(string)
				if !ok {
					return ErrSyntax
				}
				if _, dup := top.names[name]; dup {
					return &DuplicateError{Name: truncate(name)}
				}
				top.names[name] = struct{}{}
				top.wantName = false
				continue
			}
		} else {
			if n > 0 && stack[n-1].names != nil {
				stack[n-1].wantName = true // tok is a member's value
			}
			if d, ok := tok.(json.Delim); ok {
				switch d {
				case '{', '[':
					if len(stack) >= maxDepth {
						return ErrTooDeep
					}
					f := frame{}
					if d == '{' {
						f = frame{names: map[string]struct{}{}, wantName: true}
					}
					stack = append(stack, f)
				case ']':
					stack = stack[:len(stack)-1]
				}
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	return nil
}

// DecodeObject checks data with Check and decodes it, which must be an
// object, into its members. Numbers stay json.Number, so integer seconds
// are never rounded through float64.
func DecodeObject(data []byte, maxDepth int) (map[string]any, error) {
	if err := Check(data, maxDepth); err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, ErrNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, ErrSyntax
	}
	return obj, nil
}

func truncate(s string) string {
	if len(s) <= maxNameInError {
		return s
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	cut := maxNameInError
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
