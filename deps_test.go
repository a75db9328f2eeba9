package fhirpep

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hdp-il/fhir-pep"

// closure returns the module's packages that pkg (a path relative to the
// module root) imports, directly or not, and every import path any of them
// names directly. Test files are not read: the rules are about product
// code.
func closure(t *testing.T, pkg string) (local, direct []string) {
	t.Helper()
	seen := map[string]bool{}
	var visit func(rel string)
	visit = func(rel string) {
		if seen[rel] {
			return
		}
		seen[rel] = true
		p, err := build.ImportDir(filepath.FromSlash(rel), 0)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, imp := range p.Imports {
			direct = append(direct, imp)
			if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				local = append(local, rest)
				visit(rest)
			}
		}
	}
	visit(pkg)
	return local, direct
}

// TestDependencyRules keeps the layering the README describes: the security
// cores (NTN trust, PCM introspection, the policy engine) know neither each
// other nor Caddy, so each can be read, tested and replaced alone; the
// fhir_pep handler and the ntn package meet only through Caddy's app
// registry; and the internal leaf packages depend on nothing of the module.
func TestDependencyRules(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string // module packages or import path prefixes
	}{
		{"trust", []string{"introspection", "policy", "caddymodule", "github.com/caddyserver/caddy"}},
		{"introspection", []string{"trust", "policy", "caddymodule", "github.com/caddyserver/caddy"}},
		{"policy", []string{"trust", "introspection", "caddymodule", "github.com/caddyserver/caddy"}},
		{"caddymodule", []string{"caddymodule/ntn"}},
		{"caddymodule/ntn", []string{"caddymodule"}},
		{"internal/thumbprint", []string{module}},
		{"internal/token68", []string{module}},
		{"internal/strictjson", []string{module}},
		{"internal/testclock", []string{module}},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			local, direct := closure(t, r.pkg)
			for _, f := range r.forbidden {
				if slices.Contains(local, f) {
					t.Errorf("%s imports %s", r.pkg, f)
				}
				for _, imp := range direct {
					if strings.Contains(f, ".") && (imp == f || strings.HasPrefix(imp, f+"/")) {
						t.Errorf("%s depends on %s", r.pkg, imp)
					}
				}
			}
		})
	}
}
