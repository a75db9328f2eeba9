package searchparam

import (
	"errors"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
)

func TestValidate(t *testing.T) {
	reg, err := New(Config{Extra: []Extra{
		{ResourceType: "Observation", Name: "hmo-lab-site", Type: Token},
		{ResourceType: "*", Name: "hmo-branch", Type: Reference, Targets: []string{"Organization"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		rt    string
		query string
		want  *Error // nil: accepted
		param string // the parameter the error must name
	}{
		// Accepted.
		{"plain search", "Observation", "category=laboratory&code=http://loinc.org|1234-5&date=ge2024-01-01", nil, ""},
		{"common params", "Observation", "_id=a,b&_lastUpdated=gt2024-01-01&_security=s|c&_tag=t&_profile=http://p&_source=http://s", nil, ""},
		{"token modifiers", "Observation", "code:not=1&code:text=hb&category:in=http://vs&_security:not=s|V", nil, ""},
		{"string modifiers", "Patient", "name:exact=Cohen&family:contains=Co", nil, ""},
		{"missing", "Observation", "value-quantity:missing=true&subject:missing=false", nil, ""},
		{"reference type modifier", "Observation", "subject:Patient=p-18", nil, ""},
		{"reference identifier", "Observation", "subject:identifier=http://id|1", nil, ""},
		{"chain", "Observation", "subject:Patient.name=Cohen", nil, ""},
		{"chain without type", "Observation", "patient.birthdate=ge2000", nil, ""},
		{"chain with final modifier", "Observation", "patient.name:exact=Cohen", nil, ""},
		{"two links", "Encounter", "patient.organization.name=HMO", nil, ""},
		{"composite", "Observation", "code-value-quantity=http://loinc.org|1234$gt5", nil, ""},
		{"result params", "Observation", "_count=2&_sort=-date,code&_summary=count&_total=accurate&_elements=code,status&_format=json&_pretty=true", nil, ""},
		{"include", "Observation", "_include=Observation:patient&_include=Observation:subject:Patient&_include:iterate=Patient:organization", nil, ""},
		{"revinclude", "Patient", "_revinclude=Observation:patient&_revinclude:iterate=Provenance:target", nil, ""},
		{"system search", "", "_type=Observation,Condition&_id=x&_count=5", nil, ""},
		{"extra on its type", "Observation", "hmo-lab-site=TLV", nil, ""},
		{"extra on every type", "Condition", "hmo-branch:Organization=o1", nil, ""},
		{"empty", "Observation", "", nil, ""},

		// Unknown.
		{"unknown", "Observation", "code=1&colour=red", ErrUnknownParam, "colour"},
		{"other type's param", "Observation", "birthdate=2000", ErrUnknownParam, "birthdate"},
		{"case", "Observation", "Code=1", ErrUnknownParam, "Code"},
		{"extra on another type", "Condition", "hmo-lab-site=TLV", ErrUnknownParam, "hmo-lab-site"},
		{"type-level _type", "Observation", "_type=Condition", ErrUnknownParam, "_type"},
		{"system search type param", "", "code=1", ErrUnknownParam, "code"},
		{"_since on search", "Observation", "_since=2024-01-01", ErrUnknownParam, "_since"},

		// Rejected by design.
		{"_contained", "Observation", "_contained=true", ErrRejectedParam, "_contained"},
		{"_containedType", "Observation", "_containedType=contained", ErrRejectedParam, "_containedType"},
		{"_list", "Observation", "_list=l1", ErrRejectedParam, "_list"},
		{"_text", "Observation", "_text=cancer", ErrRejectedParam, "_text"},
		{"_content", "Observation", "_content=cancer", ErrRejectedParam, "_content"},
		{"_query", "Observation", "_query=mine", ErrRejectedParam, "_query"},
		{"_filter", "Observation", "_filter=code%20eq%201", ErrRejectedParam, "_filter"},
		{"_has", "Patient", "_has:Condition:patient:code=hiv", ErrRejectedParam, "_has:Condition:patient:code"},
		{"_text with modifier", "Observation", "_text:exact=x", ErrRejectedParam, "_text:exact"},
		{"_text in a chain", "Observation", "subject:Patient._text=x", ErrRejectedParam, "subject:Patient._text"},
		{"_content in a chain", "Observation", "patient._content=x", ErrRejectedParam, "patient._content"},

		// Modifiers.
		{"string modifier on token", "Observation", "code:exact=1", ErrModifier, "code:exact"},
		{"unknown modifier", "Observation", "code:fuzzy=1", ErrModifier, "code:fuzzy"},
		{"modifier case", "Observation", "code:Not=1", ErrModifier, "code:Not"},
		{"modifier on date", "Observation", "date:not=2024", ErrModifier, "date:not"},
		{"type not a target", "Observation", "subject:Practitioner=x", ErrModifier, "subject:Practitioner"},
		{"reference below", "Observation", "subject:below=x", ErrModifier, "subject:below"},
		{"modifier on special", "Location", "near:missing=true", ErrModifier, "near:missing"},
		{"include Iterate", "Observation", "_include:Iterate=Observation:patient", ErrModifier, "_include:Iterate"},
		{"revinclude iterate_", "Patient", "_revinclude:iterate_=Observation:patient", ErrModifier, "_revinclude:iterate_"},
		{"include recurse", "Observation", "_include:recurse=Observation:patient", ErrModifier, "_include:recurse"},
		{"modifier on _count", "Observation", "_count:exact=2", ErrModifier, "_count:exact"},
		{"bad modifier at the end of a chain", "Observation", "patient.name:text=x", ErrModifier, "patient.name:text"},
		{"chain type not a target", "Observation", "subject:Practitioner.name=x", ErrModifier, "subject:Practitioner.name"},

		// Chains.
		{"chain on a token", "Observation", "code.display=x", ErrChain, "code.display"},
		{"chain to nothing", "Observation", "patient.colour=red", ErrChain, "patient.colour"},
		{"chain through any target", "Observation", "focus.name=x", ErrChain, "focus.name"},
		{"chain through any target with type", "Observation", "focus:Patient.name=x", nil, ""},
		{"chain too long", "Observation", "patient.organization.partof.partof.name=x", ErrChain, "patient.organization.partof.partof.name"},
		{"chain through a token", "Observation", "patient.gender.name=x", ErrChain, "patient.gender.name"},
		{"chain on a result param", "Observation", "_count.x=1", ErrChain, "_count.x"},
		{"result param in a chain", "Observation", "patient._count=1", ErrChain, "patient._count"},

		// Values.
		{"missing not boolean", "Observation", "code:missing=maybe", ErrValue, "code:missing"},
		{"missing two values", "Observation", "code:missing=true,false", ErrValue, "code:missing"},
		{"count not a number", "Observation", "_count=-1", ErrValue, "_count"},
		{"count huge", "Observation", "_count=99999999", ErrValue, "_count"},
		{"count twice", "Observation", "_count=2&_count=1000", ErrValue, "_count"},
		{"count list", "Observation", "_count=2,3", ErrValue, "_count"},
		{"summary", "Observation", "_summary=all", ErrValue, "_summary"},
		{"total", "Observation", "_total=exact", ErrValue, "_total"},
		{"sort unknown", "Observation", "_sort=colour", ErrValue, "_sort"},
		{"sort rejected", "Observation", "_sort=_text", ErrValue, "_sort"},
		{"elements", "Observation", "_elements=code,meta.security[0]", ErrValue, "_elements"},
		{"include wildcard", "Observation", "_include=*", ErrValue, "_include"},
		{"include param wildcard", "Observation", "_include=Observation:*", ErrValue, "_include"},
		{"include other source", "Observation", "_include=Condition:patient", ErrValue, "_include"},
		{"include not a reference", "Observation", "_include=Observation:code", ErrValue, "_include"},
		{"include bad target", "Observation", "_include=Observation:subject:Practitioner", ErrValue, "_include"},
		{"include unknown type", "Observation", "_include=Nope:patient", ErrValue, "_include"},
		{"include too many parts", "Observation", "_include=Observation:subject:Patient:x", ErrValue, "_include"},
		{"revinclude not pointing here", "Patient", "_revinclude=Observation:specimen", ErrValue, "_revinclude"},
		{"format twice", "Observation", "_format=json&_format=xml", ErrValue, "_format"},
		{"type unknown", "", "_type=Nope", ErrValue, "_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params, err := fhir.ParseQuery(tc.query)
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			err = reg.Validate(tc.rt, params)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			if e.Param != tc.param {
				t.Fatalf("error names %q, want %q", e.Param, tc.param)
			}
			if e.HTTPStatus() != 400 || !strings.Contains(e.Error(), tc.param) {
				t.Fatalf("status %d, message %q", e.HTTPStatus(), e.Error())
			}
		})
	}
}

// The error names the parameter, never its value.
func TestErrorHasNoValue(t *testing.T) {
	reg, _ := New(Config{})
	params, _ := fhir.ParseQuery("colour=000000018")
	err := reg.Validate("Observation", params)
	if err == nil || strings.Contains(err.Error(), "000000018") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestNewRefusesExtras(t *testing.T) {
	cases := []struct {
		name string
		e    Extra
	}{
		{"unknown type", Extra{ResourceType: "Nope", Name: "x", Type: Token}},
		{"no type", Extra{ResourceType: "", Name: "x", Type: Token}},
		{"bad code", Extra{ResourceType: "Observation", Name: "x:exact", Type: Token}},
		{"chain", Extra{ResourceType: "Observation", Name: "x.y", Type: Token}},
		{"empty code", Extra{ResourceType: "Observation", Name: "", Type: Token}},
		{"re-enable _text", Extra{ResourceType: "*", Name: "_text", Type: String}},
		{"re-enable _has", Extra{ResourceType: "Patient", Name: "_has", Type: Special}},
		{"result param", Extra{ResourceType: "*", Name: "_count", Type: Number}},
		{"shadow an R4 param", Extra{ResourceType: "Observation", Name: "code", Type: String}},
		{"shadow a common param", Extra{ResourceType: "*", Name: "_id", Type: String}},
		{"unknown search type", Extra{ResourceType: "Observation", Name: "x", Type: "text"}},
		{"unknown target", Extra{ResourceType: "Observation", Name: "x", Type: Reference, Targets: []string{"Nope"}}},
		{"targets on token", Extra{ResourceType: "Observation", Name: "x", Type: Token, Targets: []string{"Patient"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Config{Extra: []Extra{tc.e}}); err == nil {
				t.Fatal("New accepted the extra")
			}
		})
	}
	if _, err := New(Config{Extra: []Extra{
		{ResourceType: "Observation", Name: "x", Type: Token},
		{ResourceType: "Observation", Name: "x", Type: Token},
	}}); err == nil {
		t.Fatal("New accepted a duplicate extra")
	}
}

func TestResultParams(t *testing.T) {
	got := strings.Join(ResultParams(), ",")
	want := "_count,_elements,_format,_include,_pretty,_revinclude,_sort,_summary,_total,_type"
	if got != want {
		t.Fatalf("ResultParams = %s", got)
	}
	for _, n := range []string{"_contained", "_list", "_text", "_content", "_query", "_filter", "_has"} {
		if !IsRejected(n) {
			t.Errorf("%s not rejected", n)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	reg, _ := New(Config{})
	params, _ := fhir.ParseQuery("category=laboratory&code=http://loinc.org|1234-5&date=ge2024-01-01&patient.name:exact=Cohen&_count=50&_sort=-date&_include=Observation:patient")
	b.ReportAllocs()
	for b.Loop() {
		if err := reg.Validate("Observation", params); err != nil {
			b.Fatal(err)
		}
	}
}
