package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
	"github.com/hdp-il/fhir-pep/smart"
)

// The golden corpus is the differential safety net for rewrites of the
// policies and of the input: the decisions of the policy as it was before
// the rewrite, for thousands of inputs. Regenerate it only to record a
// deliberate change of behaviour:
//
//	go test -run TestGoldenDecisions -update-golden ./policy/
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_decisions.json from the current policies")

const goldenPath = "testdata/golden_decisions.json"

// goldenFile stores every distinct decision once; cases refer to them by
// position, which keeps the file small and a diff readable.
type goldenFile struct {
	Decisions []json.RawMessage `json:"decisions"`
	Cases     map[string]int    `json:"cases"`
}

type goldenCase struct {
	name  string
	input *policy.Input
}

// goldenEngines are the default policies with their configuration as
// shipped, and with each configuration switch the rules branch on.
func goldenEngines(tb testing.TB) map[string]*policy.Engine {
	tb.Helper()
	variants := map[string]func(map[string]any){
		"default":           nil,
		"no_require_bucket": func(d map[string]any) { d["require_bucket"] = false },
		"user_context":      func(d map[string]any) { d["honoured_contexts"] = []string{"patient", "user"} },
		"small_batch_seed_1": func(d map[string]any) {
			d["max_batch_entries"] = 2
			d["bucket_systems"] = []string{seedBuckets, ilBuckets}
		},
	}
	out := make(map[string]*policy.Engine, len(variants))
	for name, change := range variants {
		fsys := policies.FS()
		if change != nil {
			fsys = withData(tb, fsys, change)
		}
		e, err := policy.Load(context.Background(), fsys)
		if err != nil {
			tb.Fatalf("Load(%s): %v", name, err)
		}
		out[name] = e
	}
	return out
}

// withData copies fsys with fhir/pep/data.json changed by change.
func withData(tb testing.TB, fsys fs.FS, change func(map[string]any)) fs.FS {
	tb.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		if path == "fhir/pep/data.json" {
			var data map[string]any
			if err := json.Unmarshal(b, &data); err != nil {
				return err
			}
			change(data)
			if b, err = json.Marshal(data); err != nil {
				return err
			}
		}
		m[path] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

const otherSystem = "http://example.org/cs/labels"

// goldenScopes are token scope strings, by short name.
var goldenScopes = []struct{ name, scope string }{
	{"lab", labScope},
	{"lab+meas", labScope + " " + measurementScope},
	{"lab+patient", labScope + " " + patientScope},
	{"many", labScope + " " + measurementScope + " " + patientScope + " patient/Condition.rs?_security=" + ilBuckets + "|Conditions patient/AllergyIntolerance.rs?_security=" + seedBuckets + "|allergies"},
	{"wildcard_bucket", "patient/*.rs?_security=" + ilBuckets + "|LaboratoryTests"},
	{"wildcard_v1", "patient/*.read"},
	{"v1_obs", "patient/Observation.read"},
	{"no_bucket", "patient/Observation.rs"},
	{"user_lab", "user/Observation.rs?_security=" + ilBuckets + "|LaboratoryTests"},
	{"system_all", "system/*.rs?_security=" + ilBuckets + "|LaboratoryTests"},
	{"category", "patient/Observation.rs?category=laboratory&_security=" + ilBuckets + "|LaboratoryTests"},
	{"mergeable", "patient/Observation.rs?category=laboratory&_security=" + ilBuckets + "|LaboratoryTests patient/Observation.rs?category=vital-signs&_security=" + ilBuckets + "|LaboratoryTests"},
	{"ambiguous", "patient/Observation.rs?category=laboratory&_security=" + ilBuckets + "|LaboratoryTests patient/Observation.rs?code=1234-5&_security=" + ilBuckets + "|Measurements"},
	{"non_filter", "patient/Observation.rs?_count=10&_security=" + ilBuckets + "|LaboratoryTests"},
	{"repeated_security", "patient/Observation.rs?_security=" + ilBuckets + "|LaboratoryTests&_security=" + ilBuckets + "|Measurements"},
	{"label_and_bucket", "patient/Observation.rs?_security=" + ilBuckets + "|LaboratoryTests," + otherSystem + "|x"},
	{"alias_or", "patient/Observation.rs?_security=" + seedBuckets + "|laboratorytests," + ilBuckets + "|Measurements"},
	{"date", "patient/Observation.rs?date=ge2020-01-01&_security=" + ilBuckets + "|LaboratoryTests"},
	{"modifier", "patient/Observation.rs?code:text=x&_security=" + ilBuckets + "|LaboratoryTests"},
	{"cruds", "patient/Observation.cruds?_security=" + ilBuckets + "|LaboratoryTests"},
	{"chain_constraint", "patient/Observation.rs?subject.name=x&_security=" + ilBuckets + "|LaboratoryTests"},
	{"none", "openid fhirUser"},
	{"empty", ""},
	{"bucket+unconstrained", labScope + " patient/Observation.rs"},
	{"search_only", "patient/Observation.s?_security=" + ilBuckets + "|LaboratoryTests"},
	{"read_only", "patient/Observation.r?_security=" + ilBuckets + "|LaboratoryTests"},
	{"comma_category", "patient/Observation.rs?category=laboratory,vital-signs&_security=" + ilBuckets + "|LaboratoryTests"},
	{"patient+condition", patientScope + " patient/Condition.rs?_security=" + ilBuckets + "|Conditions"},
	{"patient_and_user", labScope + " user/Observation.rs?_security=" + ilBuckets + "|Measurements"},
	{"label_only", "patient/Observation.rs?_security=" + otherSystem + "|x"},
	{"bad_item", "patient/Observation.rs?_security=" + ilBuckets + "|"},
	{"wildcard+obs", "patient/*.rs?_security=" + ilBuckets + "|PatientDemographics " + labScope},
	{"has_constraint", "patient/Observation.rs?_has:Observation:patient:code=1&_security=" + ilBuckets + "|LaboratoryTests"},
	{"lab_category_and_meas", "patient/Observation.rs?category=laboratory&_security=" + ilBuckets + "|LaboratoryTests " + measurementScope},
	{"same_names_two_diffs", "patient/Observation.rs?category=a&code=x&_security=" + ilBuckets + "|LaboratoryTests patient/Observation.rs?category=b&code=y&_security=" + ilBuckets + "|LaboratoryTests"},
	{"modifier_diff", "patient/Observation.rs?code:text=a&_security=" + ilBuckets + "|LaboratoryTests patient/Observation.rs?code:text=b&_security=" + ilBuckets + "|LaboratoryTests"},
	{"security_diff_label", "patient/Observation.rs?_security=" + otherSystem + "|a patient/Observation.rs?_security=" + otherSystem + "|b"},
}

// goldenBaskets are baskets claims, by short name.
var goldenBaskets = []struct {
	name    string
	baskets []policy.Basket
}{
	{"none", nil},
	{"empty", []policy.Basket{}},
	{"lab", []policy.Basket{{System: ilBuckets, Code: "laboratoryTests"}}},
	{"lab+meas_depths", []policy.Basket{{System: ilBuckets, Code: "LaboratoryTests", HistoricalDepth: "2024-01-01"}, {System: ilBuckets, Code: "Measurements", HistoricalDepth: "2023-06-01"}}},
	{"lab_twice_alias", []policy.Basket{{System: seedBuckets, Code: "laboratorytests", HistoricalDepth: "2022-01-01"}, {System: ilBuckets, Code: "LaboratoryTests", HistoricalDepth: "2024-05-05"}}},
	{"other_and_blank_system", []policy.Basket{{System: otherSystem, Code: "x"}, {System: "", Code: "PatientDemographics", HistoricalDepth: "2020-01-01"}}},
	{"lab_depth_meas_none", []policy.Basket{{System: ilBuckets, Code: "LaboratoryTests", HistoricalDepth: "2021-03-04"}, {System: ilBuckets, Code: "Measurements"}, {System: ilBuckets, Code: "PatientDemographics", HistoricalDepth: "2019-01-01"}}},
}

// goldenPatients are the token's patient and the resolved ids.
var goldenPatients = []struct {
	name    string
	patient policy.Patient
}{
	{"two_ids", policy.Patient{System: "http://fhir.health.gov.il/identifier/il-national-id", Value: "000000018", IDs: []string{"pat-1", "pat-1b"}}},
	{"no_data", policy.Patient{System: "http://fhir.health.gov.il/identifier/il-national-id", Value: "000000018", IDs: []string{}}},
	{"unresolved", policy.Patient{System: "http://fhir.health.gov.il/identifier/il-national-id", Value: "000000018"}},
	{"none", policy.Patient{}},
	{"bare_value", policy.Patient{Value: "000000018", IDs: []string{"pat-1"}}},
}

// goldenRequest is one request as the handler parses it.
type goldenRequest struct {
	method, target, contentType, body string
	accept                            string
	entries                           []goldenRequest
	core                              bool // also crossed with baskets, patients and configurations
}

func g(target string) goldenRequest  { return goldenRequest{method: "GET", target: target} }
func gc(target string) goldenRequest { return goldenRequest{method: "GET", target: target, core: true} }
func batchOf(kind string, entries ...goldenRequest) goldenRequest {
	return goldenRequest{method: "POST", target: "", contentType: "application/fhir+json", body: `{"resourceType": "Bundle", "type": "` + kind + `", "entry": []}`, entries: entries}
}

const nationalID = "http://fhir.health.gov.il/identifier/il-national-id|000000018"

var goldenRequests = []goldenRequest{
	// Instance reads.
	gc("/Observation/obs-1"),
	gc("/Observation/obs-1/_history/2"),
	gc("/Observation/obs-1/_history"),
	g("/Observation/_history"),
	g("/_history"),
	gc("/Patient/pat-1"),
	g("/Patient/pat-1b/_history/1"),
	gc("/Patient/pat-2"),
	g("/Patient/pat-2/_history"),
	g("/Group/g1"),
	g("/Practitioner/pr-1"),
	gc("/Condition/c-1"),
	g("/AllergyIntolerance/a-1/_history/1"),
	gc("/Patient/pat-1/$everything"),
	g("/Patient/pat-2/$everything"),
	g("/Patient/$everything"),
	g("/Observation/$lastn"),
	g("/$export"),
	g("/Observation/obs-1/$meta"),
	gc("/metadata"),
	// Type searches.
	gc("/Observation"),
	gc("/Observation?code=1234-5"),
	gc("/Observation?category=laboratory&date=ge2024-01-01"),
	gc("/Observation?category=laboratory"),
	g("/Observation?category=vital-signs"),
	g("/Observation?category=laboratory,vital-signs"),
	g("/Observation?category=laboratory&category=vital-signs"),
	g("/Observation?category=laboratory&code=1234-5"),
	g("/Observation?category=a&code=x"),
	g("/Observation?code:text=a"),
	g("/Observation?date=ge2020-01-01"),
	gc("/Observation?_security=" + ilBuckets + "|LaboratoryTests"),
	g("/Observation?_security=" + seedBuckets + "|laboratorytests"),
	gc("/Observation?_security=" + ilBuckets + "|Measurements"),
	g("/Observation?_security=" + ilBuckets + "|LaboratoryTests," + ilBuckets + "|Measurements"),
	g("/Observation?_security=" + otherSystem + "|x"),
	g("/Observation?_security=" + otherSystem + "|a"),
	g("/Observation?_security:not=" + ilBuckets + "|Measurements"),
	gc("/Observation?subject=Patient/pat-1"),
	gc("/Observation?subject=Patient/pat-2"),
	g("/Observation?subject=pat-1"),
	g("/Observation?subject=pat-2"),
	g("/Observation?patient=pat-1b"),
	g("/Observation?patient=Patient/pat-1/_history/3"),
	g("/Observation?patient=Patient/pat-1/_history/"),
	g("/Observation?subject=https://other.example/fhir/Patient/pat-1"),
	g("/Observation?subject=patient/pat-1"),
	g("/Observation?subject:identifier=" + nationalID),
	g("/Observation?subject:identifier=http://example.org/ids|1"),
	g("/Observation?subject:Patient=pat-1"),
	g("/Observation?subject:Patient=pat-9"),
	g("/Observation?subject:Practitioner=pr-1"),
	g("/Observation?performer=Practitioner/pr-1"),
	g("/Observation?performer=pr-1"),
	g("/Observation?performer=urn:uuid:1"),
	g("/Observation?subject:missing=true"),
	g("/Observation?subject:not=Patient/pat-1"),
	g("/Observation?subject:lowercase=pat-1"),
	g("/Observation?subject=Patient/pat-1,Patient/pat-2"),
	gc("/Observation?subject.name=Cohen"),
	g("/Observation?subject:Patient.name=Cohen"),
	gc("/Observation?_has:Observation:patient:code=1"),
	gc("/Observation?_include=Observation:subject"),
	g("/Observation?_revinclude=Provenance:target"),
	g("/Observation?_include:iterate=Observation:subject"),
	g("/Observation?_include:recurse=Observation:subject"),
	g("/Observation?_revinclude:iterate=Provenance:target"),
	g("/Observation?_revinclude:recurse=Provenance:target"),
	g("/Observation?_filter=x"),
	g("/Observation?_query=x"),
	g("/Observation?_count=10&_sort=-date"),
	gc("/Observation?_format=xml"),
	g("/Observation?_format=json"),
	g("/Observation?_elements=id&_summary=true&_total=accurate"),
	g("/Observation?_id=obs-1"),
	g("/Observation?code=a\\,b"),
	gc("/Patient?_id=pat-1"),
	g("/Patient?_id=pat-1,pat-1b"),
	g("/Patient?_id=pat-2"),
	g("/Patient?_id:not=pat-1"),
	g("/Patient?identifier=" + nationalID),
	g("/Patient?identifier=http://example.org/ids|1"),
	g("/Patient?identifier:text=x"),
	g("/Patient?name=Cohen"),
	gc("/Patient"),
	g("/Patient?_security=" + ilBuckets + "|PatientDemographics"),
	g("/Condition?clinical-status=active"),
	g("/Condition?patient=pat-2"),
	g("/MedicationRequest"),
	g("/AllergyIntolerance?patient=Patient/pat-1"),
	g("/Group"),
	g("/Group?member=pat-1"),
	g("/Practitioner"),
	g("/Practitioner?name=x"),
	// Compartment searches.
	gc("/Patient/pat-1/Observation"),
	g("/Patient/pat-1b/Observation?category=laboratory"),
	gc("/Patient/pat-2/Observation"),
	g("/Patient/pat-1/*"),
	g("/Patient/pat-1/Practitioner"),
	g("/Patient/pat-1/Condition"),
	g("/Encounter/e-1/Observation"),
	// System level and writes.
	g("/?_type=Observation"),
	{method: "POST", target: "/Observation", contentType: "application/fhir+json", body: `{"resourceType": "Observation"}`},
	{method: "PUT", target: "/Observation/obs-1", contentType: "application/fhir+json", body: `{"resourceType": "Observation", "id": "obs-1"}`},
	{method: "DELETE", target: "/Observation/obs-1"},
	{method: "PATCH", target: "/Observation/obs-1", contentType: "application/json-patch+json", body: `[]`},
	{method: "POST", target: "/Observation/_search", contentType: "application/x-www-form-urlencoded", body: "category=laboratory&subject=Patient/pat-2", core: true},
	{method: "GET", target: "/Observation", accept: "application/fhir+xml", core: true},
	{method: "GET", target: "/Observation/obs-1", accept: "application/fhir+xml"},
	// Batches and transactions.
	batchOf("batch", g("/Observation/obs-1")),
	batchOf("batch", g("/Observation?category=laboratory"), g("/Patient/pat-1"), g("/Observation/obs-1")),
	batchOf("batch", g("/Observation/obs-1"), g("/Patient/pat-2")),
	batchOf("transaction", g("/Observation?code=1"), g("/Condition/c-1")),
	batchOf("batch"),
	batchOf("batch", g("/Observation/obs-1"), g("/Observation/obs-2"), g("/Observation/obs-3")),
	batchOf("batch", g("/Observation/obs-1"), goldenRequest{}),
	batchOf("batch", batchOf("batch", g("/Observation/obs-1"))),
	batchOf("batch", g("/Observation?_format=xml")),
	batchOf("batch", g("/Patient/pat-1/$everything"), g("/metadata")),
	batchOf("batch", goldenRequest{method: "DELETE", target: "/Observation/obs-1"}),
}

// parse turns a goldenRequest into a parsed request and its entries. A
// zero goldenRequest is an entry Go could not model (nil).
func (gr goldenRequest) parse(tb testing.TB) (*fhir.Request, []*fhir.Request) {
	tb.Helper()
	if gr.method == "" {
		return nil, nil
	}
	header := http.Header{}
	if gr.contentType != "" {
		header.Set("Content-Type", gr.contentType)
	}
	if gr.accept != "" {
		header.Set("Accept", gr.accept)
	}
	r := parseRequest(tb, gr.method, gr.target, header, gr.body)
	if gr.entries == nil {
		return r, nil
	}
	entries := make([]*fhir.Request, len(gr.entries))
	for i, e := range gr.entries {
		entries[i], _ = e.parse(tb)
	}
	return r, entries
}

func (gr goldenRequest) String() string {
	if gr.method == "" {
		return "nil"
	}
	s := gr.method + " " + gr.target
	if gr.accept != "" {
		s += " Accept:" + gr.accept
	}
	if gr.body != "" && gr.entries == nil {
		s += " body:" + gr.body
	}
	if gr.entries != nil {
		parts := make([]string, len(gr.entries))
		for i, e := range gr.entries {
			parts[i] = e.String()
		}
		s += " [" + strings.Join(parts, " ; ") + "]"
	}
	return s
}

// goldenCases crosses the requests with the scopes for the default
// configuration and the usual patient, and the core requests (the common
// shapes) also with every baskets claim, patient and configuration.
func goldenCases(tb testing.TB) map[string][]goldenCase {
	tb.Helper()
	token := decodeToken(tb, benchToken)
	mk := func(gr goldenRequest, scope string, p policy.Patient, b []policy.Basket) *policy.Input {
		r, entries := gr.parse(tb)
		return &policy.Input{
			Request: r, Entries: entries, Token: token, Scopes: smart.Parse(scope),
			Patient: p, Client: policy.Client{MemberID: "org-sp-hospital-a", Thumbprint: "thumb"},
			Baskets: b,
		}
	}
	out := map[string][]goldenCase{}
	add := func(engine string, gr goldenRequest, si, pi, bi int) {
		name := fmt.Sprintf("%s | %s | scopes=%s | patient=%s | baskets=%s", engine, gr, goldenScopes[si].name, goldenPatients[pi].name, goldenBaskets[bi].name)
		out[engine] = append(out[engine], goldenCase{name, mk(gr, goldenScopes[si].scope, goldenPatients[pi].patient, goldenBaskets[bi].baskets)})
	}
	for _, gr := range goldenRequests {
		for si := range goldenScopes {
			add("default", gr, si, 0, 0)
		}
		if !gr.core {
			continue
		}
		for si := range goldenScopes {
			for bi := 1; bi < len(goldenBaskets); bi++ {
				add("default", gr, si, 0, bi)
			}
			for pi := 1; pi < len(goldenPatients); pi++ {
				add("default", gr, si, pi, 0)
			}
			for _, engine := range []string{"no_require_bucket", "user_context", "small_batch_seed_1"} {
				for _, bi := range []int{0, 3} {
					add(engine, gr, si, 0, bi)
				}
			}
		}
	}
	// Batches against every configuration (max_batch_entries, systems).
	for _, gr := range goldenRequests {
		if gr.entries == nil {
			continue
		}
		for si := range goldenScopes {
			for _, engine := range []string{"no_require_bucket", "user_context", "small_batch_seed_1"} {
				add(engine, gr, si, 0, 2)
			}
		}
	}
	return out
}

// goldenDecision renders a decision, or the error, as the golden records it.
func goldenDecision(d policy.Decision, err error) json.RawMessage {
	if err != nil {
		b, _ := json.Marshal(map[string]any{"error": err.Error(), "decision": d})
		return b
	}
	b, _ := json.Marshal(d)
	return b
}

// TestGoldenDecisions compares every decision of the corpus with the one
// recorded before the policies were restructured for speed.
func TestGoldenDecisions(t *testing.T) {
	if testing.Short() {
		t.Skip("the golden corpus evaluates thousands of decisions")
	}
	engines := goldenEngines(t)
	cases := goldenCases(t)
	ctx := context.Background()
	got := map[string]json.RawMessage{}
	for engine, list := range cases {
		for i, c := range list {
			if _, dup := got[c.name]; dup {
				t.Fatalf("duplicate golden case %q", c.name)
			}
			// EvalInput keeps grants (grant.go); every fourth case is
			// also evaluated without one, as the Rego tests evaluate, and
			// both ways must agree.
			got[c.name] = goldenDecision(engines[engine].EvalInput(ctx, c.input))
			if i%4 == 0 {
				plain := goldenDecision(engines[engine].Eval(ctx, c.input.Value()))
				if !bytes.Equal(plain, got[c.name]) {
					t.Errorf("%s: with a kept grant\n %s\nwithout\n %s", c.name, got[c.name], plain)
				}
			}
		}
	}
	if *updateGolden {
		writeGolden(t, got)
		return
	}
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (record it with -update-golden)", err)
	}
	var want goldenFile
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Cases) != len(got) {
		t.Errorf("corpus has %d cases, golden file %d", len(got), len(want.Cases))
	}
	failures := 0
	for _, name := range slices.Sorted(maps.Keys(want.Cases)) {
		g, ok := got[name]
		if !ok {
			t.Errorf("golden case %q is no longer generated", name)
			continue
		}
		var w bytes.Buffer
		if err := json.Compact(&w, want.Decisions[want.Cases[name]]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w.Bytes()) {
			failures++
			if failures <= 20 {
				t.Errorf("%s:\n got %s\nwant %s", name, g, w.Bytes())
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d decisions differ from the golden corpus", failures, len(want.Cases))
	}
}

func writeGolden(t *testing.T, got map[string]json.RawMessage) {
	t.Helper()
	f := goldenFile{Cases: map[string]int{}}
	index := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		d := string(got[name])
		i, ok := index[d]
		if !ok {
			i = len(f.Decisions)
			index[d] = i
			f.Decisions = append(f.Decisions, got[name])
		}
		f.Cases[name] = i
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d cases, %d distinct decisions", len(f.Cases), len(f.Decisions))
}
