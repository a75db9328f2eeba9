package enforce

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPlanFactsOncePerType: planFacts made once per type and check
// (work.planned) plans exactly what a fresh plan for the type would, in
// any order of types, and never carries the facts of one resource to the
// next.
func TestPlanFactsOncePerType(t *testing.T) {
	a := ruleAccessLike(t)
	fresh := func(typ []byte) ([]*paramDef, int) {
		w := getWork(a, nil, DefaultMaxDepth)
		defer putWork(w)
		w.planFacts(typ)
		return slices.Clone(w.watches), w.clinical
	}
	types := [][]byte{[]byte("Observation"), []byte("Observation"), []byte("Encounter"), nil, []byte("Observation"),
		[]byte("Patient"), []byte("Patient"), []byte("Condition"), []byte("Observation"), nil, nil, []byte("Encounter")}
	w := getWork(a, nil, DefaultMaxDepth)
	defer putWork(w)
	watched := false
	for i, typ := range types {
		// What the previous resource's walk read must be gone.
		w.tokens = append(w.tokens, tokenFact{})
		w.dates = append(w.dates, dateFact{})
		w.arena = append(w.arena, 'x')
		w.planFacts(typ)
		wantWatches, wantClinical := fresh(typ)
		if !slices.Equal(w.watches, wantWatches) || w.clinical != wantClinical {
			t.Fatalf("step %d (%s): watches %v clinical %d, fresh plan %v clinical %d", i, typ, w.watches, w.clinical, wantWatches, wantClinical)
		}
		if len(w.tokens)+len(w.dates)+len(w.arena) != 0 {
			t.Fatalf("step %d (%s): facts of the previous resource kept", i, typ)
		}
		watched = watched || len(w.watches) > 0
	}
	if !watched {
		t.Fatal("no type had anything to watch: the test compares nothing")
	}
	// A new check plans anew: a walk the pool hands to another Access
	// (reset, as getWork does) must not keep the plan it made for the
	// same type under the previous one.
	w.planFacts([]byte("Observation"))
	if len(w.watches) == 0 {
		t.Fatal("the rule check watches nothing on Observation: the test compares nothing")
	}
	w.reset(testAccess(t), nil, DefaultMaxDepth)
	w.planFacts([]byte("Observation"))
	if len(w.watches) != 0 || w.clinical != -1 {
		t.Fatalf("a check without rules kept a plan: %v %d", w.watches, w.clinical)
	}
}

// TestFilterBundleRulesPerEntry: with rules (facts read), every entry of
// a random Bundle of mixed types is decided as it is alone in a Bundle of
// the same type, so the plan made once per type decides like a plan per
// resource.
func TestFilterBundleRulesPerEntry(t *testing.T) {
	a := ruleAccessLike(t)
	opts := FilterOptions{NarrowedType: "Observation"}
	compared := 0
	for seed := range uint64(300) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 11))}
		body := []byte(g.bundle())
		_, whole, err := a.FilterBundle(body, opts)
		if err != nil {
			continue
		}
		var b struct {
			Type  string            `json:"type"`
			Entry []json.RawMessage `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) < 2 {
			continue
		}
		var sum Stats
		for _, e := range b.Entry {
			one := []byte(`{"resourceType":"Bundle","type":"` + b.Type + `","entry":[` + string(e) + `]}`)
			_, st, err := a.FilterBundle(one, opts)
			if err != nil {
				t.Fatalf("seed %d: entry alone fails (%v), the Bundle did not: %s", seed, err, e)
			}
			sum.Returned += st.Returned
			sum.Outcomes += st.Outcomes
			for r, n := range st.Withheld {
				sum.Withheld[r] += n
			}
		}
		if sum.Returned != whole.Returned || sum.Outcomes != whole.Outcomes || sum.Withheld != whole.Withheld {
			t.Fatalf("seed %d: entries alone %+v, in one Bundle %+v\n%s", seed, sum, whole, body)
		}
		compared++
	}
	if compared < 50 {
		t.Fatalf("only %d Bundles compared", compared)
	}
}
