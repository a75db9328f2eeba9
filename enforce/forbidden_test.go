package enforce

import (
	"errors"
	"testing"
)

const vSystem = "http://fhir.health.gov.il/cs/il-core-main-security-label"

func vCoding(code string) string { return `{"system":"` + vSystem + `","code":"` + code + `"}` }

// labelled is an own, granted Observation that also carries the extra coding.
func labelled(id, extra string) string {
	return `{"resourceType":"Observation","id":"` + id + `","meta":{"security":[` + label("laboratoryTests") + `,` + extra +
		`]},"subject":{"reference":"Patient/a"}}`
}

func TestForbiddenLabelRefusesWholeAnswer(t *testing.T) {
	e, err := New(Config{
		Compartment: testCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic,
		ForbiddenLabels: []Label{{System: "http://example.org/labels", Code: "secret"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Access(Scope{PatientIDs: []string{ownID}, Grants: testGrants()})
	if err != nil {
		t.Fatal(err)
	}
	vObs := labelled("v1", vCoding("V"))
	tests := []struct {
		name      string
		body      string
		forbidden bool
	}{
		{"clean searchset", bundle("searchset", entries(ent("Observation/o1", resOwn, "match"))), false},
		{"match entry", bundle("searchset", entries(ent("Observation/o1", resOwn, "match"), ent("Observation/v1", vObs, "match"))), true},
		{"include entry", bundle("searchset", entries(ent("Observation/o1", resOwn, "match"), ent("Observation/v1", vObs, "include"))), true},
		{"entry that is withheld anyway (other patient)", bundle("searchset", entries(ent("Observation/x", `{"resourceType":"Observation","meta":{"security":[`+vCoding("V")+`]},"subject":{"reference":"Patient/b"}}`, ""))), true},
		{"contained resource", bundle("searchset", entries(ent("Observation/c", `{"resourceType":"Observation",`+metaLabels("laboratoryTests")+`,"contained":[{"resourceType":"Specimen","id":"s","meta":{"security":[`+vCoding("V")+`]}}],"subject":{"reference":"Patient/a"}}`, ""))), true},
		{"history bundle, old version", bundle("history", entries(ent("Observation/o1/_history/2", resOwn, ""), ent("Observation/o1/_history/1", vObs, ""))), true},
		{"$everything collection", bundle("collection", entries(ent("Observation/v1", vObs, ""))), true},
		{"batch-response", bundle("batch-response", entries(`{"resource":`+vObs+`,"response":{"status":"200 OK"}}`)), true},
		{"code in another case", bundle("searchset", entries(ent("Observation/v1", labelled("v1", vCoding("v")), ""))), true},
		{"escaped system", bundle("searchset", entries(ent("Observation/v1", labelled("v1", `{"system":"http:\/\/fhir.health.gov.il\/cs\/il-core-main-security-label","code":"\u0056"}`), ""))), true},
		{"configured label", bundle("searchset", entries(ent("Observation/s", labelled("s", `{"system":"http://example.org/labels","code":"secret"}`), ""))), true},
		{"another code of the V system", bundle("searchset", entries(ent("Observation/n", labelled("n", vCoding("N")), ""))), false},
		{"V code in another system", bundle("searchset", entries(ent("Observation/n", labelled("n", `{"system":"http://example.org/other","code":"V"}`), ""))), false},
		{"V coding outside meta.security", bundle("searchset", entries(ent("Observation/o", `{"resourceType":"Observation",`+metaLabels("laboratoryTests")+`,"subject":{"reference":"Patient/a"},"code":{"coding":[`+vCoding("V")+`]}}`, ""))), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := a.FilterBundle([]byte(tc.body), FilterOptions{})
			if tc.forbidden {
				if !errors.Is(err, ErrForbiddenLabel) || out != nil {
					t.Fatalf("want ErrForbiddenLabel and no body, got %v, %d bytes", err, len(out))
				}
				dst := []byte("prefix")
				got, _, err := a.AppendFilterBundle(dst, []byte(tc.body), FilterOptions{})
				if !errors.Is(err, ErrForbiddenLabel) || string(got) != "prefix" {
					t.Fatalf("append: %v %q", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}

func TestForbiddenLabelRead(t *testing.T) {
	a := testAccess(t)
	tests := []struct {
		name string
		body string
		err  error
	}{
		{"granted resource with V", labelled("v1", vCoding("V")), ErrForbiddenLabel},
		{"withheld resource with V", `{"resourceType":"Observation","meta":{"security":[` + vCoding("V") + `]},"subject":{"reference":"Patient/b"}}`, ErrForbiddenLabel},
		{"V on a contained resource", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"contained":[{"resourceType":"Specimen","meta":{"security":[` + vCoding("V") + `]}}],"subject":{"reference":"Patient/a"}}`, ErrForbiddenLabel},
		{"clean", resOwn, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := a.CheckResource([]byte(tc.body))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err != nil && (v.Allowed || v.Reason != ReasonForbiddenLabel) {
				t.Fatalf("verdict %+v", v)
			}
		})
	}
}

func TestForbiddenLabelsConfig(t *testing.T) {
	base := Config{UpstreamBase: testUpstream, PublicBase: testPublic}
	e, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ForbiddenLabels(); len(got) != 1 || got[0] != VLabel || got[0].String() != vSystem+"|V" {
		t.Fatalf("default: %v", got)
	}
	withV := base
	withV.ForbiddenLabels = []Label{VLabel, {System: "s", Code: "c"}}
	if e, err = New(withV); err != nil || len(e.ForbiddenLabels()) != 2 {
		t.Fatalf("V listed twice: %v %v", e.ForbiddenLabels(), err)
	}
	bad := base
	bad.ForbiddenLabels = []Label{{System: "s"}}
	if _, err := New(bad); err == nil {
		t.Fatal("label without code accepted")
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{"s|c", true}, {"s", false}, {"|c", false}, {"s|", false}, {"s|c|d", false}} {
		if _, err := ParseLabel(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseLabel(%q) = %v", tc.in, err)
		}
	}
}
