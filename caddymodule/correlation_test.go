package caddymodule

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/internal/correlation"
)

func TestCorrelate(t *testing.T) {
	tests := []struct {
		name string
		sent []string
		kept bool
	}{
		{"valid id kept", []string{"sp-req-42.a_b"}, true},
		{"none sent", nil, false},
		{"too long", []string{strings.Repeat("a", 65)}, false},
		{"header injection", []string{"a\r\nX-Evil: 1"}, false},
		{"sent twice", []string{"a", "b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/R4/metadata", nil)
			for _, v := range tt.sent {
				r.Header.Add(correlation.Header, v)
			}
			w := httptest.NewRecorder()
			id := correlate(w, r, "fallback")
			if !correlation.Valid(id) {
				t.Fatalf("id %q is not valid", id)
			}
			if tt.kept && id != tt.sent[0] || !tt.kept && len(tt.sent) > 0 && id == tt.sent[0] {
				t.Fatalf("id %q, sent %q, kept=%v", id, tt.sent, tt.kept)
			}
			if got := w.Header().Values(correlation.Header); len(got) != 1 || got[0] != id {
				t.Errorf("answer header %q, want %q", got, id)
			}
			if got := r.Header.Values(correlation.Header); len(got) != 1 || got[0] != id {
				t.Errorf("request header %q, want exactly %q", got, id)
			}
		})
	}
}

// correlate reads the header as correlation.Generator.FromRequest does:
// the same id is kept, and a minted one stands for the same refusals.
func TestCorrelateAgreesWithFromRequest(t *testing.T) {
	for _, sent := range [][]string{
		nil, {"sp-req-42.a_b"}, {""}, {strings.Repeat("a", 64)}, {strings.Repeat("a", 65)}, {"a b"}, {"a", "b"}, {"a", "a"},
	} {
		r := httptest.NewRequest("GET", "/R4/metadata", nil)
		for _, v := range sent {
			r.Header.Add(correlation.Header, v)
		}
		want, generated, err := correlation.Generator{}.FromRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		got := correlate(httptest.NewRecorder(), r, "fallback")
		if generated == (got == want) {
			t.Errorf("sent %q: correlate %q, FromRequest %q (generated %v)", sent, got, want, generated)
		}
	}
}
