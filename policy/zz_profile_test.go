package policy_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/hdp-il/fhir-pep/policies"
)

func TestZZRules(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	mods := map[string]string{}
	data := map[string]any{}
	fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		b, _ := fs.ReadFile(policies.FS(), p)
		if strings.HasSuffix(p, ".rego") {
			mods[p] = string(b)
		} else {
			var v map[string]any
			util.UnmarshalJSON(b, &v)
			node := data
			for _, k := range strings.Split(strings.TrimSuffix(p, "/data.json"), "/") {
				if _, ok := node[k]; !ok {
					node[k] = map[string]any{}
				}
				node = node[k].(map[string]any)
			}
			for k, x := range v {
				node[k] = x
			}
		}
		return nil
	})
	var in = typicalSearch(t)
	switch os.Getenv("ZZ") {
	case "read":
		in = typicalRead(t)
	case "batch":
		in = typicalBatch(t)
	}
	input := in.Value()
	dv, _ := ast.InterfaceToValue(data)
	store := inmem.NewFromASTObject(dv.(ast.Object))
	qs := strings.Split(os.Getenv("ZZQ"), "@@")
	if os.Getenv("ZZQ") == "" {
		qs = strings.Fields("decision deny obligations search_params compartment_params constraint_params response_types scope_facts matching_scopes relevant_scopes is_batch")
	}
	for _, q := range qs {
		if !strings.ContainsAny(q, " .") {
			q = "data.fhir.pep." + q
		}
		opts := []func(*rego.Rego){rego.Query(q), rego.Store(store), rego.StrictBuiltinErrors(true), rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil })}
		for p, s := range mods {
			opts = append(opts, rego.Module(p, s))
		}
		var popts []rego.PrepareOption
		if os.Getenv("ZZPE") != "" {
			popts = append(popts, rego.WithPartialEval())
		}
		pq, err := rego.New(opts...).PrepareForEval(context.Background(), popts...)
		if err != nil {
			t.Fatal(err)
		}
		n := 200
		best := time.Hour
		for r := 0; r < 5; r++ {
			start := time.Now()
			for i := 0; i < n; i++ {
				if _, err := pq.Eval(context.Background(), rego.EvalParsedInput(input), rego.EvalRuleIndexing(os.Getenv("ZZNOIDX") == "")); err != nil {
					t.Fatal(err)
				}
			}
			best = min(best, time.Since(start))
		}
		allocs := testing.AllocsPerRun(200, func() {
			pq.Eval(context.Background(), rego.EvalParsedInput(input))
		})
		fmt.Printf("%-60s %6.1fus %6.0f allocs\n", q, float64(best.Nanoseconds())/float64(n)/1000, allocs)
	}
}
