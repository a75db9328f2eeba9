package enforce

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fixtureBodies are fuzz seeds: the repository's own demo data, and the
// HDP IG examples too when they are there (igFixturesDir).
func fixtureBodies(f *testing.F) [][]byte {
	var files []string
	for _, pattern := range []string{"../examples/fhir-server/data/*.json", filepath.Join(igFixturesDir(), "*.json")} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed files: the demo data in examples/fhir-server/data is missing")
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var trickySeeds = []string{
	``, `{}`, `[]`, `null`, `{"resourceType":"Observation"}`,
	`{"resourceType":"Observation","resourceType":"Patient"}`,
	`{"resourceType":"Patient","id":"a","ID":"b"}`,
	`{"resourceType":"Observation","subject":{"reference":"Patient\/a"},"meta":{"security":[{"system":"http://fhir.health.gov.il/cs/il-hdp-information-buckets","code":"LABORATORYTESTS"}]}}`,
	`{"resourceType":"Observation","ſubject":{"reference":"Patient/a"}}`,
	`{"x":"\ud83d\ude00","y":"\u00e9"}`, `{"x":"\ud800"}`, "{\"x\":\"\xff\"}",
	`{"resourceType":"Bundle","type":"searchset","total":1,"link":[{"relation":"next","url":"http://hapi.internal:8080/fhir?p=2"}],"entry":[{"resource":{"resourceType":"Observation","subject":{"reference":"Patient/b"}}}]}`,
	`{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"404","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Patient/b"}]}}}]}`,
}

// FuzzCheckResource: never panics; whatever it accepts encoding/json accepts;
// whatever it allows, the oracle allows.
func FuzzCheckResource(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add(b)
	}
	for _, s := range trickySeeds {
		f.Add([]byte(s))
	}
	for seed := range uint64(30) {
		_, body := (&gen{r: rand.New(rand.NewPCG(seed, 3))}).resource()
		f.Add([]byte(body))
	}
	a := testAccess(f)
	o := newOracle()
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := a.CheckResource(body)
		if err != nil {
			if v.Allowed {
				t.Fatal("allowed with an error")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if !v.Allowed {
			return
		}
		tree, err := decodeFolded(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.resource(tree, false, ""); err != nil {
			t.Fatalf("allowed, oracle says %v: %s", err, body)
		}
	})
}

// FuzzFilterBundle: never panics; accepted input is valid JSON; the output
// is valid JSON, everything in it passes the oracle, and filtering it again
// withholds nothing.
func FuzzFilterBundle(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://hapi.internal:8080/fhir/X/1","resource":` + string(b) + `}]}`))
	}
	for _, s := range trickySeeds {
		f.Add([]byte(s))
	}
	for seed := range uint64(30) {
		f.Add([]byte((&gen{r: rand.New(rand.NewPCG(seed, 5)), pretty: seed%2 == 0}).bundle()))
	}
	a := testAccess(f)
	o := newOracle()
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := a.FilterBundle(body, FilterOptions{AnnotateWithheld: len(body)%2 == 0})
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if _, err := o.checkOutput(out); err != nil {
			t.Fatalf("%v\nin  %s\nout %s", err, body, out)
		}
		again, st, err := a.FilterBundle(out, FilterOptions{})
		if err != nil || st.WithheldCount() != 0 {
			t.Fatalf("second pass: %v %+v\nout   %s\nagain %s", err, st, out, again)
		}
	})
}
