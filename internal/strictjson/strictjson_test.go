package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name string
		in   string
		want error // nil, a sentinel, or &DuplicateError{}
	}{
		{"object", `{"a":1,"b":[1,{"c":null}],"d":{"a":true}}`, nil},
		{"same name in sibling objects", `[{"a":1},{"a":2}]`, nil},
		{"same name at two levels", `{"a":{"a":1}}`, nil},
		{"scalar", `42`, nil},
		{"string", `"x"`, nil},
		{"surrounding space", " {\"a\":1}\n", nil},
		{"names differ in case", `{"active":false,"Active":true}`, nil},
		{"duplicate", `{"active":false,"active":true}`, &DuplicateError{Name: "active"}},
		{"duplicate nested in array", `{"e":[{"u":"a","u":"b"}]}`, &DuplicateError{Name: "u"}},
		{"duplicate after nested value", `{"a":{"x":1},"a":2}`, &DuplicateError{Name: "a"}},
		{"duplicate through escapes", `{"a":1,"\u0061":2}`, &DuplicateError{Name: "a"}},
		{"empty", ``, ErrSyntax},
		{"truncated", `{"a":`, ErrSyntax},
		{"bad grammar", `{"a" 1}`, ErrSyntax},
		{"trailing value", `{"a":1} {}`, ErrTrailing},
		{"trailing garbage", `{"a":1}x`, ErrTrailing},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ErrInvalidUTF8},
		{"depth at the limit", deep(16), nil},
		{"too deep", deep(17), ErrTooDeep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), 16)
			var dup *DuplicateError
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", tc.in, err)
				}
			case *DuplicateError:
				if !errors.As(err, &dup) || dup.Name != want.Name {
					t.Fatalf("Check(%s) = %v, want duplicate %q", tc.in, err, want.Name)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Check(%s) = %v, want %v", tc.in, err, want)
				}
			}
		})
	}
}

func TestDuplicateNameIsCut(t *testing.T) {
	long := strings.Repeat("é", 30) // 60 bytes
	err := Check([]byte(`{"`+long+`":1,"`+long+`":2}`), 4)
	var dup *DuplicateError
	if !errors.As(err, &dup) || len(dup.Name) > maxNameInError+3 || !strings.HasSuffix(dup.Name, "...") || !json.Valid([]byte(`"`+dup.Name+`"`)) {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeObject(t *testing.T) {
	obj, err := DecodeObject([]byte(`{"exp":1700000000123,"a":[1,"x"]}`), 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := obj["exp"].(json.Number); !ok || n.String() != "1700000000123" {
		t.Fatalf("exp = %#v, want the exact json.Number", obj["exp"])
	}
	for _, in := range []string{`[1]`, `"x"`, `null`} {
		if _, err := DecodeObject([]byte(in), 4); !errors.Is(err, ErrNotObject) {
			t.Fatalf("DecodeObject(%s) = %v, want ErrNotObject", in, err)
		}
	}
	if _, err := DecodeObject([]byte(`{"a":1,"a":1}`), 4); err == nil {
		t.Fatal("duplicate accepted")
	}
}

// reference is a plain recursive statement of the rule, for the fuzzer.
func reference(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				if seen[k.(string)] {
					return false
				}
				seen[k.(string)] = true
				if !walk() {
					return false
				}
			}
		case '[':
			for dec.More() {
				if !walk() {
					return false
				}
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	return walk()
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[{"a":{"b":[1,2,{"c":3,"c":4}]}}]`, `1`, `{"a":1} 2`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, 1<<20)
		// json.Valid accepts invalid UTF-8 and Check does not; compare
		// only where the encoding is not the question.
		if errors.Is(err, ErrInvalidUTF8) {
			return
		}
		if got, want := err == nil, reference(data); got != want {
			t.Fatalf("Check(%q) = %v, reference says valid=%v", data, err, want)
		}
	})
}
