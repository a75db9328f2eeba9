package policy

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/policies"
)

// The default policy reads neither input.token nor input.client (Go has
// checked the token and the certificate), so EvalInput renders neither.
// Should a change to the shipped rules read one, this fails and the
// benchmarks in docs/benchmarks.md need measuring again.
func TestDefaultPolicyInputReads(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	if e.reads != (inputReads{}) {
		t.Fatalf("reads %+v, want neither token nor client", e.reads)
	}
}

// A security team's rule that reads input.token or input.client, directly,
// through a function or helper rule, through an else branch, or in a way
// the analysis cannot place, gets them rendered: EvalInput then decides as
// Eval on the whole document (the custom deny fires both ways).
func TestCustomRuleReadingTokenOrClient(t *testing.T) {
	oneTime := func(in *Input) { in.Token = map[string]any{"active": true, "access_type": "one-time"} }
	evil := func(in *Input) { in.Client = Client{MemberID: "org-evil", Thumbprint: "x"} }
	cases := []struct {
		name, module string
		want         inputReads
		mutate       func(*Input)
	}{
		{"token", `package fhir.pep

deny contains "one_time" if input.token.access_type == "one-time"
`, inputReads{token: true}, oneTime},
		{"client", `package fhir.pep

deny contains "client_blocked" if input.client.member_id == "org-evil"
`, inputReads{client: true}, evil},
		{"token through a function", `package fhir.pep

deny contains "one_time" if one_time(input.request.interaction)

one_time(_) if tok.access_type == "one-time"

tok := input.token
`, inputReads{token: true}, oneTime},
		{"client through else", `package fhir.pep

deny contains "client_blocked" if blocked

blocked := false if {
	input.request.interaction == "capabilities"
} else := true if {
	input.client.member_id == "org-evil"
}
`, inputReads{client: true}, evil},
		{"whole input", `package fhir.pep

deny contains "one_time" if object.get(input, ["token", "access_type"], "") == "one-time"
`, allInputReads, oneTime},
		{"variable key", `package fhir.pep

deny contains "client_blocked" if {
	some k in ["client"]
	input[k].member_id == "org-evil"
}
`, allInputReads, evil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Load(context.Background(), withExtraModule(t, "fhir/pep/custom.rego", c.module))
			if err != nil {
				t.Fatal(err)
			}
			if e.reads != c.want {
				t.Fatalf("reads %+v, want %+v", e.reads, c.want)
			}
			in := grantTestInput(t, "/Observation/obs-1", grantLab, nil)
			c.mutate(in)
			for i := range 2 { // the grant evaluated, then kept
				got, err := e.EvalInput(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				if got.Allow {
					t.Fatalf("call %d: allowed, the custom deny did not see the input it reads (%+v)", i, got)
				}
			}
		})
	}
}

// Without reading input.token the engine still refuses what Value
// refuses: a document that renders nothing (zero digest), both Token and
// Claims, a Token without a JSON form. Nothing else is refused.
func TestValueWithoutTokenRefusesLikeValue(t *testing.T) {
	doc := fakeDoc{value: ast.MustParseTerm(`{"active": true}`).Value, digest: sha256.Sum256([]byte("a"))}
	both := docInput(doc)
	both.Token = map[string]any{"active": true}
	badMap := docInput(nil)
	badMap.Token = map[string]any{"f": func() {}}
	for name, tc := range map[string]struct {
		in      *Input
		refused bool
	}{
		"document":              {docInput(doc), false},
		"map":                   {keyInput(), false},
		"no token":              {docInput(nil), false},
		"document renders none": {docInput(fakeDoc{}), true},
		"both":                  {both, true},
		"map without JSON form": {badMap, true},
	} {
		if got := tc.in.value(inputReads{}) == nil; got != tc.refused {
			t.Errorf("%s: refused %v, want %v", name, got, tc.refused)
		}
		if got := tc.in.Value() == nil; got != tc.refused {
			t.Errorf("%s: Value refused %v, want %v", name, got, tc.refused)
		}
		v, ok := tc.in.value(inputReads{}).(ast.Object)
		if !ok {
			continue
		}
		if v.Get(keyToken) != nil || v.Get(keyClient) != nil {
			t.Errorf("%s: token or client rendered although unread", name)
		}
	}
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e.EvalInput(context.Background(), docInput(fakeDoc{})); err == nil || d.Allow {
		t.Fatalf("a document that renders nothing: %+v, %v; want a deny with ErrInput", d, err)
	}
}
