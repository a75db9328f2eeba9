package main

import (
	"strings"
	"testing"
)

func TestPlainLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"level":"error","ts":1764633600.1,"msg":"--claims: open : no such file or directory"}`,
			"error: --claims: open : no such file or directory"},
		{`{"level":"warn","ts":1.5,"logger":"caddyfile","msg":"Caddyfile input is not formatted; run 'caddy fmt --overwrite' to fix inconsistencies","adapter":"caddyfile","file":"Caddyfile","line":2}`,
			"warning: Caddyfile input is not formatted; run 'fhir-pep fmt --overwrite' to fix inconsistencies (adapter: caddyfile, file: Caddyfile, line: 2)"},
		{`{"level":"info","ts":1.5,"msg":"using config from file","file":"Caddyfile"}`, "using config from file (file: Caddyfile)"},
		{`{"level":"info","msg":"x","list":["a","b"],"n":1.25}`, `x (list: ["a","b"], n: 1.25)`},
		{`Error: required flag(s) "claims" not set`, `Error: required flag(s) "claims" not set`},
		{`{"not":"a log line"}`, `{"not":"a log line"}`},
		{`{"level":"error","msg":"a"} trailing`, `{"level":"error","msg":"a"} trailing`},
		{`{"level":"error","msg":3}`, `{"level":"error","msg":3}`},
		{`{broken`, `{broken`},
		{``, ``},
	}
	for _, tt := range tests {
		if got := plainLine(tt.in); got != tt.want {
			t.Errorf("plainLine(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestHelpText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Usage:\n  caddy [command]\n", "Usage:\n  fhir-pep [command]\n"},
		{"  $ caddy run --config caddy.json\n", "  $ fhir-pep run --config caddy.json\n"},
		{"use 'caddy adapt' to see\n", "use 'fhir-pep adapt' to see\n"},
		{"caddy caddy caddy\n", "fhir-pep fhir-pep fhir-pep\n"},
		// Prose, file names, modules and URLs keep their spelling.
		{"Caddy's standard modules; caddyfile; caddy.json; https://caddyserver.com/docs\n", "Caddy's standard modules; caddyfile; caddy.json; https://caddyserver.com/docs\n"},
		{"github.com/caddyserver/caddy/v2\n", "github.com/caddyserver/caddy/v2\n"},
	}
	for _, tt := range tests {
		if got := helpText(tt.in); got != tt.want {
			t.Errorf("helpText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCommandClassification(t *testing.T) {
	tests := []struct {
		args           []string
		server, isHelp bool
	}{
		{nil, false, true},
		{[]string{"run", "--config", "x"}, true, false},
		{[]string{"start", "--config", "x"}, true, false},
		{[]string{"adapt", "--config", "x"}, false, false},
		{[]string{"policy", "explain", "--help"}, false, true},
		{[]string{"help", "run"}, false, true},
		{[]string{"run", "-h"}, true, true},
		{[]string{"policy", "test", "--", "-h"}, false, false},
	}
	for _, tt := range tests {
		if got := isServerCommand(tt.args); got != tt.server {
			t.Errorf("isServerCommand(%q) = %v", tt.args, got)
		}
		if got := isHelp(tt.args); got != tt.isHelp {
			t.Errorf("isHelp(%q) = %v", tt.args, got)
		}
	}
}

// FuzzPlainLine: never panics, and a line that is not a JSON log line
// comes back unchanged.
func FuzzPlainLine(f *testing.F) {
	for _, s := range []string{`{"level":"error","msg":"x"}`, `{"level":"info","msg":"caddy run","a":{"b":[1,2]}}`, `plain`, `{`, `{"level":1,"msg":"x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		out := plainLine(line)
		if !strings.HasPrefix(strings.TrimSpace(line), "{") && out != line {
			t.Fatalf("non-JSON line changed: %q -> %q", line, out)
		}
		_ = helpText(line)
	})
}
