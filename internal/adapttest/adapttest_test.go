package adapttest

import (
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		name, data, input, expected, err string
	}{
		{"json", ":80 {\n}\n----------\n{\"apps\":{}}\n", ":80 {\n}\n", "{\"apps\":{}}", ""},
		{"error fragment", "x\n----------\n  bad thing, at Caddyfile:1 \n", "x\n", "bad thing, at Caddyfile:1", ""},
		{"no separator", ":80\n", "", "", "got 1 parts"},
		{"two separators", "a\n----------\nb\n----------\nc", "", "", "got 3 parts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input, expected, err := split(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || input != tc.input || expected != tc.expected {
				t.Fatalf("split = (%q, %q, %v), want (%q, %q)", input, expected, err, tc.input, tc.expected)
			}
		})
	}
}

// TestRunGoldenFiles runs the runner on its own golden files: one adapted
// to JSON, one that must fail with a positioned error. A runner that
// passed everything would fail the second.
func TestRunGoldenFiles(t *testing.T) {
	Run(t, "testdata", false)
}
