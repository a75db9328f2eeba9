package demodata

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Object is a JSON object whose members keep the order they were given in,
// so that the generated files read like FHIR examples (resourceType and id
// first) and are byte-for-byte reproducible.
type Object []member

type member struct {
	key   string
	value any
}

// O builds an Object from alternating keys and values. Members whose value
// is nil, an empty string or an empty slice are left out, so optional
// elements can be passed unconditionally.
func O(kv ...any) Object {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("demodata.O: odd number of arguments (%d)", len(kv)))
	}
	o := make(Object, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("demodata.O: key %v is not a string", kv[i]))
		}
		if empty(kv[i+1]) {
			continue
		}
		o = append(o, member{key, kv[i+1]})
	}
	return o
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []Object:
		return len(v) == 0
	case []string:
		return len(v) == 0
	case Object:
		return len(v) == 0
	}
	return false
}

// Get returns the value of key, or nil.
func (o Object) Get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// With returns a copy of o with key set to value (replaced in place when
// present, appended otherwise).
func (o Object) With(key string, value any) Object {
	out := make(Object, 0, len(o)+1)
	found := false
	for _, m := range o {
		if m.key == key {
			m.value, found = value, true
		}
		out = append(out, m)
	}
	if !found {
		out = append(out, member{key, value})
	}
	return out
}

// MarshalJSON writes the members in order. HTML characters are not
// escaped: the narrative <div>s stay readable.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// encodeFile renders v as the committed files are written: two-space
// indentation, no HTML escaping, a final newline.
func encodeFile(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
