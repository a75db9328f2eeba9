package enforce

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var (
	resOwn      = `{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}`
	resOwn2     = `{"resourceType":"Observation","id":"o2",` + metaLabels("measurements", "mentalHealth") + `,"subject":{"reference":"Patient/a/_history/1"}}`
	resOther    = `{"resourceType":"Observation","id":"x1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/b"}}`
	resNoLabel  = `{"resourceType":"Observation","id":"x2","subject":{"reference":"Patient/a"}}`
	resPrac     = `{"resourceType":"Practitioner","id":"p1",` + metaLabels("practitioner") + `}`
	resPracBare = `{"resourceType":"Practitioner","id":"p2"}`
	resContOwn  = `{"resourceType":"Observation","id":"c1",` + metaLabels("laboratoryTests") + `,"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"Patient/a"}}],"subject":{"reference":"Patient/a"}}`
	resContBad  = `{"resourceType":"Observation","id":"c2",` + metaLabels("laboratoryTests") + `,"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"Patient/b"}}],"subject":{"reference":"Patient/a"}}`
)

func ent(typeID, res, mode string) string {
	s := `{"fullUrl":"` + testUpstream + `/` + typeID + `","resource":` + res
	if mode != "" {
		s += `,"search":{"mode":"` + mode + `"}`
	}
	return s + "}"
}

func pubEnt(typeID, res, mode string) string {
	return strings.Replace(ent(typeID, res, mode), testUpstream, testPublic, 1)
}

func bundle(typ string, members ...string) string {
	s := `{"resourceType":"Bundle","type":"` + typ + `"`
	for _, m := range members {
		s += "," + m
	}
	return s + "}"
}

func entries(es ...string) string { return `"entry":[` + strings.Join(es, ",") + "]" }

func link(rel, url string) string { return `{"relation":"` + rel + `","url":"` + url + `"}` }

func links(ls ...string) string { return `"link":[` + strings.Join(ls, ",") + "]" }

func TestFilterBundle(t *testing.T) {
	a := testAccess(t)
	withheldOO := string(withheldEntry)
	notFound := string(notFoundEntry)
	type want struct {
		out      string
		returned int
		included int
		outcomes int
		withheld map[Reason]int
		links    int
		dropped  bool
	}
	tests := []struct {
		name string
		in   string
		opts FilterOptions
		want want
	}{
		{
			name: "own patient, nothing to change",
			in:   bundle("searchset", `"total":2`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/o2", resOwn2, "match"))),
			want: want{out: bundle("searchset", `"total":2`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/o2", resOwn2, "match"))), returned: 2},
		},
		{
			name: "fullUrl rewritten",
			in:   bundle("searchset", entries(ent("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1},
		},
		{
			name: "other patient removed from the middle, total recomputed",
			in:   bundle("searchset", `"total":3`, entries(ent("Observation/o1", resOwn, "match"), ent("Observation/x1", resOther, "match"), ent("Observation/o2", resOwn2, "match"))),
			want: want{out: bundle("searchset", `"total":2`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/o2", resOwn2, "match"))), returned: 2, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "first and last removed",
			in:   bundle("searchset", entries(ent("Observation/x1", resOther, "match"), ent("Observation/o1", resOwn, "match"), ent("Observation/x2", resNoLabel, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1, ReasonNoBucket: 1}},
		},
		{
			name: "everything removed: entry member goes",
			in:   bundle("searchset", `"total":2`, entries(ent("Observation/x1", resOther, "match"), ent("Observation/x2", resNoLabel, "match")), `"id":"b1"`),
			want: want{out: bundle("searchset", `"total":0`, `"id":"b1"`), withheld: map[Reason]int{ReasonOtherPatient: 1, ReasonNoBucket: 1}},
		},
		{
			name: "everything removed, annotated",
			in:   bundle("searchset", entries(ent("Observation/x1", resOther, "match"))),
			opts: FilterOptions{AnnotateWithheld: true},
			want: want{out: bundle("searchset", entries(withheldOO)), withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "some removed, annotated",
			in:   bundle("searchset", entries(ent("Observation/o1", resOwn, "match"), ent("Observation/x1", resOther, "match"))),
			opts: FilterOptions{AnnotateWithheld: true},
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"), withheldOO)), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "nothing removed, annotation not added",
			in:   bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))),
			opts: FilterOptions{AnnotateWithheld: true},
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1},
		},
		{
			name: "included practitioner with and without bucket",
			in:   bundle("searchset", entries(ent("Observation/o1", resOwn, "match"), ent("Practitioner/p1", resPrac, "include"), ent("Practitioner/p2", resPracBare, "include"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Practitioner/p1", resPrac, "include"))), returned: 2, included: 1, withheld: map[Reason]int{ReasonNoBucket: 1}},
		},
		{
			name: "contained own kept, contained foreign withholds the parent",
			in:   bundle("searchset", entries(ent("Observation/c1", resContOwn, "match"), ent("Observation/c2", resContBad, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/c1", resContOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonContained: 1}},
		},
		{
			name: "paging links rewritten, foreign link removed, public link kept",
			in: bundle("searchset", links(link("self", testUpstream+"/Observation?patient=a"), link("alternate", "https://evil.example/x"),
				link("next", testUpstream+"?_getpages=abc&_getpagesoffset=20"), link("previous", testPublic+"/Observation?page=1"), link("last", testUpstream+"x/Observation")),
				entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", links(link("self", testPublic+"/Observation?patient=a"), link("next", testPublic+"?_getpages=abc&_getpagesoffset=20"), link("previous", testPublic+"/Observation?page=1")),
				entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, links: 2},
		},
		{
			name: "all links foreign: link member removed",
			in:   bundle("searchset", links(link("self", "http://other/fhir/Observation"), `{"relation":"alternate"}`, `"not a link"`), `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, links: 3},
		},
		{
			name: "a removed next link still makes the result multi-page",
			in:   bundle("searchset", links(`{"relation":"next"}`), `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, links: 1, dropped: true},
		},
		{
			name: "escaped link URL is decoded before the check",
			in:   bundle("searchset", `"link":[{"relation":"self","url":"http:\/\/hapi.internal:8080\/fhir\/Observation?a=\"b\""}]`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", `"link":[{"relation":"self","url":"https://fhir.hmo-b.example/R4/Observation?a=\"b\""}]`, entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1},
		},
		{
			name: "total kept when verified on a single page",
			in:   bundle("searchset", `"total":2`, entries(ent("Observation/o1", resOwn, "match"), ent("Practitioner/p1", resPrac, "include"), ent("Observation/o2", resOwn2, ""))),
			want: want{out: bundle("searchset", `"total":2`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Practitioner/p1", resPrac, "include"), pubEnt("Observation/o2", resOwn2, ""))), returned: 3, included: 1},
		},
		{
			name: "total dropped when it disagrees with the page",
			in:   bundle("searchset", `"total":5`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, dropped: true},
		},
		{
			name: "total dropped for _summary=count",
			in:   bundle("searchset", `"total":42`),
			want: want{out: bundle("searchset"), dropped: true},
		},
		{
			name: "zero total kept",
			in:   bundle("searchset", `"total":0`),
			want: want{out: bundle("searchset", `"total":0`)},
		},
		{
			name: "total dropped on a multi-page result",
			in:   bundle("searchset", `"total":40`, links(link("next", testPublic+"?p=2")), entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", links(link("next", testPublic+"?p=2")), entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, dropped: true},
		},
		{
			name: "total recomputed when something was withheld: its presence says nothing",
			in:   bundle("searchset", `"total":3`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/x1", resOther, "match"), ent("Practitioner/p1", resPrac, "include"), pubEnt("Observation/o2", resOwn2, ""))),
			want: want{out: bundle("searchset", `"total":2`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Practitioner/p1", resPrac, "include"), pubEnt("Observation/o2", resOwn2, ""))), returned: 3, included: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "total recomputed to zero when every match was withheld",
			in:   bundle("searchset", `"total": 1`, entries(pubEnt("Observation/x1", resOther, "match"))),
			want: want{out: bundle("searchset", `"total": 0`), withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "withheld include does not change the total",
			in:   bundle("searchset", `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/x1", resOther, "include"))),
			want: want{out: bundle("searchset", `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "history total recomputed",
			in:   bundle("history", `"total":2`, entries(pubEnt("Observation/o1", resOwn, ""), pubEnt("Observation/x1", resOther, ""))),
			want: want{out: bundle("history", `"total":1`, entries(pubEnt("Observation/o1", resOwn, ""))), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "total dropped on a multi-page result even when something was withheld",
			in:   bundle("searchset", `"total":40`, links(link("next", testPublic+"?p=2")), entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/x1", resOther, "match"))),
			want: want{out: bundle("searchset", links(link("next", testPublic+"?p=2")), entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}, dropped: true},
		},
		{
			name: "total after the entries recomputed",
			in:   bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"), pubEnt("Observation/x1", resOther, "match")), `"total":2`),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match")), `"total":1`), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "malformed totals dropped",
			in:   bundle("searchset", `"total":"1"`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, dropped: true},
		},
		{
			name: "fractional total dropped",
			in:   bundle("searchset", `"total":1.0`, entries(pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, dropped: true},
		},
		{
			name: "entry that is not an object, entry without resource, resource that is not an object",
			in:   bundle("searchset", entries(`1`, `{"fullUrl":"x"}`, `{"resource":[]}`, pubEnt("Observation/o1", resOwn, "match"))),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonNotAResource: 2, ReasonNoResource: 1}},
		},
		{
			name: "outcome entry sanitised",
			in:   bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"), `{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing","diagnostics":"Patient/b has 3 more results"}]},"search":{"mode":"outcome"}}`)),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"), `{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing"}]},"search":{"mode":"outcome"}}`)), returned: 1, outcomes: 1},
		},
		{
			name: "history: deleted version without resource withheld",
			in:   bundle("history", entries(`{"fullUrl":"`+testUpstream+`/Observation/x9","request":{"method":"DELETE","url":"Observation/x9"},"response":{"status":"204"}}`, `{"fullUrl":"`+testUpstream+`/Observation/o1","resource":`+resOwn+`,"request":{"method":"PUT","url":"Observation/o1"},"response":{"status":"200","location":"`+testUpstream+`/Observation/o1/_history/2"}}`)),
			want: want{out: bundle("history", entries(`{"fullUrl":"`+testPublic+`/Observation/o1","resource":`+resOwn+`,"request":{"method":"PUT","url":"Observation/o1"},"response":{"status":"200","location":"`+testPublic+`/Observation/o1/_history/2"}}`)), returned: 1, withheld: map[Reason]int{ReasonNoResource: 1}},
		},
		{
			name: "batch-response: withheld entry becomes a 404 in place, outcome sanitised",
			in: bundle("batch-response", entries(
				`{"resource":`+resOther+`,"response":{"status":"200 OK","location":"`+testUpstream+`/Observation/x1"}}`,
				`{"response":{"status":"404 Not Found","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Resource Observation/zz is not known"}]}}}`,
				`{"resource":`+resOwn+`,"response":{"status":"200 OK","location":"`+testUpstream+`/Observation/o1"}}`)),
			want: want{out: bundle("batch-response", entries(
				notFound,
				`{"response":{"status":"404 Not Found","outcome":`+notFoundJSON+`}}`,
				`{"resource":`+resOwn+`,"response":{"status":"200 OK","location":"`+testPublic+`/Observation/o1"}}`)), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "transaction-response outcome that is not an OperationOutcome",
			in:   bundle("transaction-response", entries(`{"response":{"status":"201 Created","location":"Observation/9/_history/1","outcome":"free text"}}`)),
			want: want{out: bundle("transaction-response", entries(`{"response":{"status":"201 Created","location":"Observation/9/_history/1","outcome":`+genericOutcomeJSON+`}}`))},
		},
		{
			name: "collection ($everything) with the patient and an organization",
			in: bundle("collection", entries(`{"fullUrl":"`+testUpstream+`/Patient/a","resource":{"resourceType":"Patient","id":"a",`+metaLabels("patientDemographics")+`}}`,
				`{"fullUrl":"`+testUpstream+`/Patient/b","resource":{"resourceType":"Patient","id":"b",`+metaLabels("patientDemographics")+`}}`,
				`{"resource":{"resourceType":"Organization","id":"org",`+metaLabels("organization")+`}}`)),
			want: want{out: bundle("collection", entries(`{"fullUrl":"`+testPublic+`/Patient/a","resource":{"resourceType":"Patient","id":"a",`+metaLabels("patientDemographics")+`}}`,
				`{"resource":{"resourceType":"Organization","id":"org",`+metaLabels("organization")+`}}`)), returned: 2, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "$everything and _revinclude: another patient's result in which ours is only the performer is withheld",
			in: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"),
				`{"resource":{"resourceType":"Observation","id":"x2",`+metaLabels("laboratoryTests")+`,"subject":{"reference":"Patient/b"},"performer":[{"reference":"Patient/a"}]},"search":{"mode":"include"}}`)),
			want: want{out: bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "collection ($everything): a care team of another patient with ours as a member is withheld",
			in: bundle("collection", entries(`{"resource":`+resOwn+`}`,
				`{"resource":{"resourceType":"CareTeam","id":"ct",`+metaLabels("practitioner")+`,"subject":{"reference":"Patient/b"},"participant":[{"member":{"reference":"Patient/a"}}]}}`)),
			want: want{out: bundle("collection", entries(`{"resource":`+resOwn+`}`)), returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "entry-level links: foreign removed, member removed when empty",
			in: bundle("searchset", entries(`{"link":[{"relation":"alternate","url":"https://evil.example/o1"},{"relation":"self","url":"`+testUpstream+`/Observation/o1"}],"resource":`+resOwn+`}`,
				`{"link":[{"relation":"alternate","url":"https://evil.example/o2"}],"resource":`+resOwn2+`}`)),
			want: want{out: bundle("searchset", entries(`{"link":[{"relation":"self","url":"`+testPublic+`/Observation/o1"}],"resource":`+resOwn+`}`,
				`{"resource":`+resOwn2+`}`)), returned: 2},
		},
		{
			name: "members in unusual order",
			in:   `{"entry":[` + ent("Observation/x1", resOther, "match") + `,` + ent("Observation/o1", resOwn, "match") + `],"total":2,"type":"searchset","resourceType":"Bundle"}`,
			want: want{out: `{"entry":[` + pubEnt("Observation/o1", resOwn, "match") + `],"total":1,"type":"searchset","resourceType":"Bundle"}`, returned: 1, withheld: map[Reason]int{ReasonOtherPatient: 1}},
		},
		{
			name: "pretty printed input stays valid; a bare resource is not an entry",
			in:   "{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"searchset\",\n  \"total\": 2,\n  \"entry\": [\n    " + resOther + " ,\n    {\"resource\": " + resOwn + "}\n  ]\n}\n",
			want: want{out: "{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"searchset\",\n  \"entry\": [\n    {\"resource\": " + resOwn + "}\n  ]\n}\n", returned: 1, withheld: map[Reason]int{ReasonNoResource: 1}, dropped: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, st, err := a.FilterBundle([]byte(tc.in), tc.opts)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if string(out) != tc.want.out {
				t.Fatalf("output\n got %s\nwant %s", out, tc.want.out)
			}
			if !json.Valid(out) {
				t.Fatal("output is not valid JSON")
			}
			var wantWithheld [NumReasons]int
			for r, n := range tc.want.withheld {
				wantWithheld[r] = n
			}
			if st.Returned != tc.want.returned || st.Included != tc.want.included || st.Outcomes != tc.want.outcomes ||
				st.Withheld != wantWithheld || st.LinksRemoved != tc.want.links || st.TotalDropped != tc.want.dropped {
				t.Fatalf("stats %+v, want %+v", st, tc.want)
			}
		})
	}
}

func TestFilterBundleUnchangedIsNotCopied(t *testing.T) {
	a := testAccess(t)
	in := []byte(bundle("searchset", `"total":1`, entries(pubEnt("Observation/o1", resOwn, "match"))))
	out, _, err := a.FilterBundle(in, FilterOptions{})
	if err != nil || &out[0] != &in[0] || len(out) != len(in) {
		t.Fatalf("expected the input slice back, err %v", err)
	}
	dst := []byte("prefix:")
	out, _, err = a.AppendFilterBundle(dst, in, FilterOptions{})
	if err != nil || string(out) != "prefix:"+string(in) {
		t.Fatalf("append unchanged: %q %v", out, err)
	}
	changed := []byte(bundle("searchset", entries(ent("Observation/o1", resOwn, "match"))))
	out, _, err = a.AppendFilterBundle(dst, changed, FilterOptions{})
	if err != nil || string(out) != "prefix:"+bundle("searchset", entries(pubEnt("Observation/o1", resOwn, "match"))) {
		t.Fatalf("append changed: %q %v", out, err)
	}
}

func TestFilterBundleErrors(t *testing.T) {
	a := testAccess(t)
	small, err := New(Config{Compartment: testCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic, MaxBytes: 200, MaxDepth: 6})
	if err != nil {
		t.Fatal(err)
	}
	as, err := small.Access(Scope{PatientIDs: []string{"a"}, Grants: testGrants()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		a    *Access
		in   string
		want error
	}{
		{"not JSON", a, `{"resourceType":"Bundle",`, ErrSyntax},
		{"trailing data", a, bundle("searchset") + "]", ErrSyntax},
		{"array body", a, `[]`, ErrInvalidBundle},
		{"string body", a, `"Bundle"`, ErrInvalidBundle},
		{"a single resource", a, resOwn, ErrInvalidBundle},
		{"no type", a, `{"resourceType":"Bundle","entry":[]}`, ErrInvalidBundle},
		{"document bundle", a, bundle("document"), ErrInvalidBundle},
		{"transaction request", a, bundle("transaction"), ErrInvalidBundle},
		{"type not a string", a, `{"resourceType":"Bundle","type":1}`, ErrInvalidBundle},
		{"entry not an array", a, bundle("searchset", `"entry":{"resource":`+resOwn+`}`), ErrInvalidBundle},
		{"link not an array", a, bundle("searchset", `"link":{"url":"x"}`), ErrInvalidBundle},
		{"entry link not an array", a, bundle("searchset", entries(`{"link":{},"resource":`+resOwn+`}`)), ErrInvalidBundle},
		{"duplicate type", a, `{"resourceType":"Bundle","type":"searchset","type":"collection"}`, ErrDuplicateKey},
		{"duplicate entry", a, bundle("searchset", entries(), entries()), ErrDuplicateKey},
		{"duplicate in an entry", a, bundle("searchset", entries(`{"resource":`+resOwn+`,"resource":`+resOther+`}`)), ErrDuplicateKey},
		{"duplicate fullUrl by case", a, bundle("searchset", entries(`{"fullUrl":"a","fullURL":"b","resource":`+resOwn+`}`)), ErrDuplicateKey},
		{"duplicate deep in a resource", a, bundle("searchset", entries(`{"resource":{"resourceType":"Practitioner","name":[{"given":["a"],"given":["b"]}]}}`)), ErrDuplicateKey},
		{"duplicate in a removed resource", a, bundle("searchset", entries(`{"resource":{"resourceType":"Observation","subject":{"reference":"Patient/b"},"note":[{"text":"a","text":"b"}]}}`)), ErrDuplicateKey},
		{"invalid UTF-8 in a removed resource", a, bundle("searchset", entries(`{"resource":{"resourceType":"Observation","subject":{"reference":"Patient/b"},"note":"`+"\xfe"+`"}}`)), ErrSyntax},
		{"too large", as, bundle("searchset", `"id":"`+strings.Repeat("x", 200)+`"`), ErrTooLarge},
		{"too deep", as, bundle("searchset", entries(`{"resource":{"resourceType":"Practitioner","x":[[[]]]}}`)), ErrTooDeep},
		{"at max depth", as, bundle("searchset", entries(`{"resource":{"resourceType":"Practitioner","x":[[]]}}`)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, st, err := tc.a.AppendFilterBundle(dst, []byte(tc.in), FilterOptions{AnnotateWithheld: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err != nil && (string(out) != "keep" || st != (Stats{})) {
				t.Fatalf("on error got output %q stats %+v", out, st)
			}
			if _, _, err2 := tc.a.FilterBundle([]byte(tc.in), FilterOptions{}); !errors.Is(err2, tc.want) {
				t.Fatalf("FilterBundle error %v, want %v", err2, tc.want)
			}
		})
	}
}
