package fhir

import (
	"strings"
	"testing"
)

func TestTokenValue(t *testing.T) {
	tests := []struct{ system, code, want string }{
		{"http://fhir.health.gov.il/cs/il-core-main-security-label", "V", "http://fhir.health.gov.il/cs/il-core-main-security-label|V"},
		{"s", "a,b", `s|a\,b`},
		{"s|t", "c", `s\|t|c`},
		{`s\`, "$c", `s\\|\$c`},
	}
	for _, tc := range tests {
		got := TokenValue(tc.system, tc.code)
		if got != tc.want {
			t.Errorf("TokenValue(%q, %q) = %q, want %q", tc.system, tc.code, got, tc.want)
		}
		r := &Request{}
		if err := r.AddParam("_security:not", got); err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		if p := r.Params[0]; len(p.Values) != 1 || p.Modifier != "not" {
			t.Fatalf("%q parsed as %+v", got, p)
		}
	}
}

func FuzzTokenValue(f *testing.F) {
	f.Add("http://example.org", "V")
	f.Add("a,b|c", `\$`)
	f.Fuzz(func(t *testing.T, system, code string) {
		v := TokenValue(system, code)
		values, ok := splitValues(v)
		if !ok || len(values) != 1 {
			t.Fatalf("%q: %v %v", v, values, ok)
		}
		// Exactly one unescaped "|": the separator.
		bars := 0
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' {
				i++
				continue
			}
			if v[i] == '|' {
				bars++
			}
		}
		if bars != 1 || !strings.Contains(v, "|") {
			t.Fatalf("%q: %d separators", v, bars)
		}
	})
}
