package correlation

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"abc-123_X.y", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"a b", false},
		{"a\r\nSet-Cookie: x", false},
		{"a/b", false},
		{"a|000000026", false},
		{"ä", false},
		{`"quoted"`, false},
		{"550e8400-e29b-41d4-a716-446655440000", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Valid(tt.in); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFromRequest(t *testing.T) {
	const minted = "AB-_AAB-_AAB-_AAB-_AAB"
	tests := []struct {
		name      string
		headers   []string
		want      string
		generated bool
	}{
		{"valid kept", []string{"req-42.a_b"}, "req-42.a_b", false},
		{"absent", nil, minted, true},
		{"empty", []string{""}, minted, true},
		{"too long", []string{strings.Repeat("x", 65)}, minted, true},
		{"bad character", []string{"a;b"}, minted, true},
		{"repeated", []string{"a", "b"}, minted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Generator{Rand: bytes.NewReader(bytes.Repeat([]byte{0, 1, 62, 63, 64}, 10))}
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tt.headers {
				r.Header.Add(Header, h)
			}
			got, generated, err := g.FromRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || generated != tt.generated {
				t.Errorf("got (%q, %v), want (%q, %v)", got, generated, tt.want, tt.generated)
			}
		})
	}
}

func TestNewDefaultRandomness(t *testing.T) {
	a, err := Generator{}.New()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generator{}.New()
	if err != nil {
		t.Fatal(err)
	}
	if !Valid(a) || len(a) != generatedLen || a == b {
		t.Errorf("ids %q and %q: want two different valid %d-character ids", a, b, generatedLen)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestNewFailsClosed(t *testing.T) {
	id, err := Generator{Rand: failingReader{}}.New()
	if err == nil || id != "" {
		t.Errorf("got (%q, %v), want an error and no id", id, err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	if id, _, err := (Generator{Rand: failingReader{}}).FromRequest(r); err == nil || id != "" {
		t.Errorf("FromRequest got (%q, %v), want an error and no id", id, err)
	}
}

// FuzzFromRequest: whatever the client sends, the id used is valid, and a
// valid client id is used unchanged.
func FuzzFromRequest(f *testing.F) {
	for _, s := range []string{"abc", "", "a\nb", strings.Repeat("z", 70), "ok-1.2_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(Header, in)
		id, generated, err := Generator{}.FromRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		if !Valid(id) {
			t.Fatalf("invalid id %q from %q", id, in)
		}
		if generated == Valid(in) {
			t.Fatalf("input %q (valid %v) generated=%v", in, Valid(in), generated)
		}
		if !generated && id != in {
			t.Fatalf("valid id %q changed to %q", in, id)
		}
	})
}
