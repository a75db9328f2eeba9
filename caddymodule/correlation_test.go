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
