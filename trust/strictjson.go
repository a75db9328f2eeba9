package trust

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hdp-il/fhir-pep/internal/strictjson"
)

// encoding/json matches object keys case-insensitively, keeps the last of
// duplicate keys and has no notion of "exactly these keys". A signed
// manifest must mean one thing only, so before the typed decode the raw
// JSON passes strictjson.Check (one value, valid UTF-8, no duplicate keys)
// and is then walked once against the schema: exact spelling, no unknown
// keys, right container types.

// maxDepth bounds nesting; a manifest nests five levels
// (members[].certificates[].x5c[]).
const maxDepth = 32

// fieldWalker consumes the value of one object member.
type fieldWalker func(dec *json.Decoder) error

// objectWalker returns a walker for an object with exactly the given keys
// (each optional at this stage; presence is checked by the typed decode).
// A JSON null is accepted in place of the object.
func objectWalker(name string, fields map[string]fieldWalker) fieldWalker {
	return containerWalker(name, '{', "an object", func(dec *json.Decoder) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s: malformed object key", name)
		}
		walk, known := fields[key]
		if !known {
			return fmt.Errorf("%s: unknown field %q", name, key)
		}
		return walk(dec)
	})
}

// arrayWalker returns a walker for an array whose elements are walked by
// elem. A JSON null is accepted in place of the array.
func arrayWalker(name string, elem fieldWalker) fieldWalker {
	return containerWalker(name, '[', "an array", elem)
}

// containerWalker returns a walker for a null or a container opened by
// open, whose members or elements are each consumed by member.
func containerWalker(name string, open json.Delim, kind string, member fieldWalker) fieldWalker {
	return func(dec *json.Decoder) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil
		}
		if d, ok := tok.(json.Delim); !ok || d != open {
			return fmt.Errorf("%s must be %s", name, kind)
		}
		for dec.More() {
			if err := member(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing '}' or ']'
		return err
	}
}

// scalarWalker consumes one value that must not be an object (types are
// checked exactly by the typed decode afterwards). Arrays are skipped
// iteratively so that deeply nested input cannot exhaust the stack.
func scalarWalker(name string) fieldWalker {
	return func(dec *json.Decoder) error {
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := tok.(json.Delim); ok {
				switch d {
				case '{':
					return fmt.Errorf("%s must not contain an object", name)
				case '[':
					depth++
				case ']':
					depth--
				}
			}
			if depth == 0 {
				return nil
			}
		}
	}
}

// walkStrict checks data with strictjson.Check and then against root.
func walkStrict(data []byte, root fieldWalker) error {
	if err := strictjson.Check(data, maxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	return root(dec) // Check has ruled out anything after the value
}

// decodeExact decodes data into v after walkStrict has vetted its keys;
// DisallowUnknownFields stays on as a second guard.
func decodeExact(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
