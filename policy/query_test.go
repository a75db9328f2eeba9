package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/policy"
)

// TestPreparedQueryMatchesRego: the engine evaluates its query with OPA's
// evaluator directly (query.go); on the golden corpus, with and without a
// kept grant, and on policies that fail, it gives what
// rego.PreparedEvalQuery gives on the same compiled policy: the same
// value, the same number of results, the same error code.
func TestPreparedQueryMatchesRego(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates the golden corpus")
	}
	ctx := context.Background()
	engines := goldenEngines(t)
	compared := 0
	for engine, list := range goldenCases(t) {
		e := engines[engine]
		for i, c := range list {
			// A sample keeps the test short: every fourth case with its
			// kept grant, every 32nd also without one (ten times the
			// cost). The corpus lists each request with every scope set
			// in turn, so every request shape is still compared.
			var inputs []ast.Value
			if i%32 == 0 {
				inputs = append(inputs, c.input.Value())
			}
			if i%4 == 0 {
				if withGrant := e.InputWithGrantForTest(ctx, c.input); withGrant != nil {
					inputs = append(inputs, withGrant)
				}
			}
			for _, in := range inputs {
				direct, viaRego := e.QueryBothWaysForTest(ctx, in)
				sameOutcome(t, c.name, direct, viaRego)
				compared++
			}
		}
	}
	t.Logf("%d evaluations compared", compared)
	for name, src := range map[string]string{
		"conflict":      `decision := x if some x in [1, 2]`,
		"undefined":     `decision := 1 if false`,
		"builtin error": `decision := {"allow": true, "status": 200, "reasons": [], "n": to_number("x")}`,
		"not an object": `decision := "allow"`,
	} {
		e := mustLoad(t, module(src))
		direct, viaRego := e.QueryBothWaysForTest(ctx, ast.NewObject())
		sameOutcome(t, name, direct, viaRego)
	}
}

func sameOutcome(t *testing.T, name string, direct, viaRego policy.QueryOutcomeForTest) {
	t.Helper()
	if direct.Results != viaRego.Results || (direct.Err == nil) != (viaRego.Err == nil) {
		t.Fatalf("%s: direct %d results, %v; rego %d, %v", name, direct.Results, direct.Err, viaRego.Results, viaRego.Err)
	}
	if direct.Err != nil {
		var d, r *policy.EvalError
		if !errors.As(policy.NewEvalErrorForTest(direct.Err), &d) || !errors.As(policy.NewEvalErrorForTest(viaRego.Err), &r) || d.Code != r.Code || d.Location != r.Location {
			t.Fatalf("%s: direct error %v, rego error %v", name, direct.Err, viaRego.Err)
		}
		return
	}
	if (direct.Value == nil) != (viaRego.Value == nil) || (direct.Value != nil && direct.Value.Compare(viaRego.Value) != 0) {
		t.Fatalf("%s: direct\n %v\nrego\n %v", name, direct.Value, viaRego.Value)
	}
}
