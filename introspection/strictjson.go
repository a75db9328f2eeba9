package introspection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in PCM responses. Real responses nest three
// levels (fhirContext[].identifier.type); the bound keeps the recursive
// walker's stack small whatever PCM sends.
const maxJSONDepth = 16

// decodeStrictObject parses one JSON object and nothing else. Unlike
// json.Unmarshal it rejects duplicate member names (which would let two
// parsers disagree on "active"), invalid UTF-8 (which json.Unmarshal would
// silently replace) and trailing data. Numbers stay json.Number so that
// integer seconds are never rounded through float64.
func decodeStrictObject(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("invalid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	obj, err := decodeObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return obj, nil
}

// decodeObject reads members after an opening '{' up to and including the
// closing '}'.
func decodeObject(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	obj := make(map[string]any)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON")
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", truncateName(name))
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("invalid JSON")
	}
	return obj, nil
}

// decodeArray reads elements after an opening '[' up to and including the
// closing ']'.
func decodeArray(dec *json.Decoder, depth int) ([]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	arr := make([]any, 0)
	for dec.More() {
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("invalid JSON")
	}
	return arr, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("invalid JSON")
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return decodeObject(dec, depth+1)
		case '[':
			return decodeArray(dec, depth+1)
		}
		return nil, errors.New("invalid JSON")
	case string, json.Number, bool, nil:
		return v, nil
	}
	return nil, errors.New("invalid JSON")
}

// truncateName keeps error messages short when PCM sends long member names.
// Member names are PCM's vocabulary, never token material.
func truncateName(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
