package token68

import (
	"regexp"
	"testing"
)

func TestValid(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"abc", true},
		{"A-Z.a_z~0+9/", true},
		{"abc==", true},
		{"abc=", true},
		{"=", false},
		{"==abc", false},
		{"ab=c", false},
		{"ab c", false},
		{"ab\tc", false},
		{"abc,", false},
		{"abc\"", false},
		{"ab%41", false},
		{"\u00e9t\u00e9", false},
		{"abc\x00", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := Valid(tc.in); got != tc.want {
				t.Fatalf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// oracle is the grammar written as a regular expression.
var oracle = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

func FuzzValid(f *testing.F) {
	for _, s := range []string{"", "abc", "abc==", "a=b", "a b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), oracle.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, the grammar says %v", s, got, want)
		}
	})
}
