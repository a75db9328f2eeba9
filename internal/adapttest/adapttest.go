// Package adapttest runs Caddyfile adapt golden files, in the format of
// Caddy's own caddytest/integration suite: a Caddyfile, a line of dashes,
// then either the expected JSON or a fragment of the expected error (which
// should name the file and line). Every package with Caddyfile syntax
// keeps its golden files in its own testdata and runs them with Run.
package adapttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Separator divides the Caddyfile from the expected result.
const Separator = "----------"

// Run checks every *.caddyfiletest file in dir as a subtest. With update,
// the expected JSON of files that expect JSON is rewritten from the
// adapter's output (files that expect an error are left alone). The
// packages registering the modules the files use must be linked into the
// test binary.
func Run(t *testing.T, dir string, update bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, err := split(string(data))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(expected, "{") {
				_, _, err := adapt(input)
				if err == nil {
					t.Fatalf("expected an error containing %q, got none", expected)
				}
				if !strings.Contains(err.Error(), expected) {
					t.Fatalf("error %q does not contain %q", err, expected)
				}
				return
			}
			if update {
				out, _, err := adapt(input)
				if err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				golden := strings.TrimSpace(input) + "\n" + Separator + "\n" + pretty.String() + "\n"
				if err := os.WriteFile(file, []byte(golden), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !caddytest.CompareAdapt(t, file, input, "caddyfile", expected) {
				t.Errorf("adapted JSON differs from %s", file)
			}
		})
	}
}

// split returns the Caddyfile and the expected result of a golden file.
func split(data string) (input, expected string, err error) {
	parts := strings.Split(data, Separator)
	if len(parts) != 2 {
		return "", "", fmt.Errorf("want exactly one separator line, got %d parts", len(parts))
	}
	return strings.TrimSpace(parts[0]) + "\n", strings.TrimSpace(parts[1]), nil
}

// adapt adapts a Caddyfile named "Caddyfile", so errors read
// "..., at Caddyfile:<line>".
func adapt(input string) ([]byte, []caddyconfig.Warning, error) {
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
}
