package enforce

import (
	"math/rand/v2"
	"testing"
)

// ruleAccessLike is testAccess with every grant turned into a rule with
// constraints, and depths on two buckets: it only ever lets out less.
func ruleAccessLike(t testing.TB) *Access {
	t.Helper()
	var rules []Rule
	for typ, buckets := range testGrants() {
		rules = append(rules, Rule{Type: typ, Buckets: buckets, Narrowed: true, Constraints: []Constraint{
			{"status", "final,amended"},
			{"category", obsCategory + "|laboratory,vital-signs"},
			{"date", "ge2024-01-01"},
			{"date", "lt2026"},
			{"_security", HDPBucketSystem + "|laboratoryTests," + HDPBucketSystem + "|EncounterInformation"},
		}})
	}
	a, err := testEnforcer(t).Access(Scope{PatientIDs: []string{ownID, ownID2}, Rules: rules,
		Depths: []Depth{{bkt("LaboratoryTests"), "2024-06-01"}, {bkt("EncounterInformation"), "2023-01-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// FuzzRulesOnlyNarrow: reading the facts for rules never changes whether a
// body can be checked, and a resource or entry that rules let out is let out
// by the same buckets without rules.
func FuzzRulesOnlyNarrow(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add(b)
	}
	for _, s := range trickySeeds {
		f.Add([]byte(s))
	}
	for seed := range uint64(20) {
		_, body := (&gen{r: rand.New(rand.NewPCG(seed, 3))}).resource()
		f.Add([]byte(body))
		f.Add([]byte((&gen{r: rand.New(rand.NewPCG(seed, 5))}).bundle()))
	}
	f.Add([]byte(`{"resourceType":"Observation","status":"final","effectiveDateTime":"2024-07-01","category":[{"coding":[{"system":"` + obsCategory + `","code":"laboratory"}]}],` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}`))
	plain := testAccess(f)
	ruled := ruleAccessLike(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		pv, perr := plain.CheckResource(body)
		rv, rerr := ruled.CheckResource(body)
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("errors differ: %v / %v", perr, rerr)
		}
		if rv.Allowed && !pv.Allowed {
			t.Fatalf("rules let out what buckets alone withhold (%s): %s", pv.Reason, body)
		}
		pout, pst, perr := plain.FilterBundle(body, FilterOptions{NarrowedType: "Observation"})
		rout, rst, rerr := ruled.FilterBundle(body, FilterOptions{NarrowedType: "Observation"})
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("bundle errors differ: %v / %v", perr, rerr)
		}
		if perr != nil {
			return
		}
		if rst.Returned > pst.Returned || len(rout) > len(pout)+len(withheldEntry)+1 {
			t.Fatalf("rules returned more: %d > %d", rst.Returned, pst.Returned)
		}
		if again, st, err := ruled.FilterBundle(rout, FilterOptions{NarrowedType: "Observation"}); err != nil || st.WithheldCount() != 0 {
			t.Fatalf("second pass: %v %+v\n%s", err, st, again)
		}
	})
}
