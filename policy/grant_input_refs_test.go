package policy

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/policies"
)

// withExtraModule copies the shipped policies and adds one module.
func withExtraModule(t *testing.T, name, src string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(policies.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS(), path)
		if err != nil {
			return err
		}
		m[path] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m[name] = &fstest.MapFile{Data: []byte(src)}
	return m
}

// A custom reason added to kind_deny (the set scope_grant keeps) that reads
// an input field grantInput does not give would be undefined when the grant
// is evaluated, and the kept grant would lack the deny. The engine sees the
// reference at load and keeps no grants for such a policy set, so
// EvalInput decides as Eval does (found by review: it allowed).
func TestGrantOffWhenScopeGrantReadsOtherInput(t *testing.T) {
	cases := []struct {
		name, module string
		mutate       func(*Input)
	}{
		{"client", `package fhir.pep

kind_deny contains "client_blocked" if input.client.member_id == "org-evil"
`, func(in *Input) { in.Client = Client{MemberID: "org-evil", Thumbprint: "x"} }},
		{"token", `package fhir.pep

kind_deny contains "one_time_no_search" if {
	input.request.interaction == "search-type"
	input.token.access_type == "one-time"
}
`, func(in *Input) { in.Token = map[string]any{"active": true, "access_type": "one-time"} }},
		{"request id", `package fhir.pep

kind_deny contains "vip_record" if input.request.id == "obs-vip"
`, func(in *Input) {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Load(context.Background(), withExtraModule(t, "fhir/pep/custom.rego", c.module))
			if err != nil {
				t.Fatal(err)
			}
			if e.grants != nil {
				t.Error("grants kept although scope_grant reads another input field")
			}
			target := "/Observation?code=1"
			if c.name == "request id" {
				target = "/Observation/obs-vip"
			}
			in := grantTestInput(t, target, grantLab, nil)
			c.mutate(in)
			plain, err := e.Eval(context.Background(), in.Value())
			if err != nil {
				t.Fatal(err)
			}
			if plain.Allow {
				t.Fatalf("precondition: Eval allows %+v", plain)
			}
			got, err := e.EvalInput(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != plain.Allow {
				t.Errorf("EvalInput allow=%v reasons=%v, Eval allow=%v reasons=%v: the kept grant hid the custom deny",
					got.Allow, got.Reasons, plain.Allow, plain.Reasons)
			}
		})
	}
}

// A custom kind_deny that reads only what grantInput gives keeps the grant
// path, and its deny is in the kept grant.
func TestGrantKeptWhenScopeGrantReadsGrantInput(t *testing.T) {
	e, err := Load(context.Background(), withExtraModule(t, "fhir/pep/custom.rego", `package fhir.pep

kind_deny contains "patient_blocked" if input.patient.value == "v"
`))
	if err != nil {
		t.Fatal(err)
	}
	if e.grants == nil {
		t.Fatal("grant path off for a policy that reads only grant input")
	}
	in := grantTestInput(t, "/Observation?code=1", grantLab, nil)
	for range 2 { // evaluated, then kept
		got, err := e.EvalInput(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allow {
			t.Fatalf("allowed: the custom deny is missing (%+v)", got)
		}
	}
}

func TestGrantInputRef(t *testing.T) {
	for ref, want := range map[string]bool{
		"input.scopes[0].raw":          true,
		"input.scope_index":            true,
		"input.patient.ids":            true,
		"input.baskets":                true,
		"input.request.interaction":    true,
		"input.request.resource_type":  true,
		"input.request.operation.name": true,
		"input":                        false,
		"input.request":                false,
		"input.request.id":             false,
		"input.request.params":         false,
		"input.client.member_id":       false,
		"input.token.access_type":      false,
		"input.grant":                  false,
		"input[x]":                     false,
		"input.request[x]":             false,
	} {
		if got := grantInputRef(ast.MustParseRef(ref)); got != want {
			t.Errorf("grantInputRef(%s) = %v, want %v", ref, got, want)
		}
	}
}
