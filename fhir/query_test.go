package fhir

import (
	"reflect"
	"testing"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []Param
	}{
		{"empty", "", nil},
		{"plus is space", "name=Cohen+Levi", []Param{{Key: "name", Name: "name", Values: []string{"Cohen Levi"}, Raw: "Cohen Levi"}}},
		{"encoded plus", "date=ge2024-01-01T00:00:00%2B02:00", []Param{{Key: "date", Name: "date",
			Values: []string{"ge2024-01-01T00:00:00+02:00"}, Raw: "ge2024-01-01T00:00:00+02:00"}}},
		{"token with raw pipe", "code=http://loinc.org|1234-5", []Param{{Key: "code", Name: "code",
			Values: []string{"http://loinc.org|1234-5"}, Raw: "http://loinc.org|1234-5"}}},
		{"or values", "code=a,b,,c", []Param{{Key: "code", Name: "code", Values: []string{"a", "b", "", "c"}, Raw: "a,b,,c"}}},
		{"encoded comma splits too", "code=a%2Cb", []Param{{Key: "code", Name: "code", Values: []string{"a", "b"}, Raw: "a,b"}}},
		{"escaped comma kept", `code=a\,b,c`, []Param{{Key: "code", Name: "code", Values: []string{`a\,b`, "c"}, Raw: `a\,b,c`}}},
		{"escaped pipe and backslash", `code=a\|b\\`, []Param{{Key: "code", Name: "code", Values: []string{`a\|b\\`}, Raw: `a\|b\\`}}},
		{"empty value", "code=", []Param{{Key: "code", Name: "code", Values: []string{""}, Raw: ""}}},
		{"literal percent", "name=50%25", []Param{{Key: "name", Name: "name", Values: []string{"50%"}, Raw: "50%"}}},
		{"utf-8 hebrew", "name=%D7%9B%D7%94%D7%9F", []Param{{Key: "name", Name: "name", Values: []string{"כהן"}, Raw: "כהן"}}},
		{"modifier", "code:not=x", []Param{{Key: "code:not", Name: "code", Modifier: "not", Values: []string{"x"}, Raw: "x"}}},
		{"encoded colon in name", "code%3Anot=x", []Param{{Key: "code:not", Name: "code", Modifier: "not", Values: []string{"x"}, Raw: "x"}}},
		{"chain", "subject.name=Cohen", []Param{{Key: "subject.name", Name: "subject", Chain: "name", Values: []string{"Cohen"}, Raw: "Cohen"}}},
		{"typed chain", "subject:Patient.name=Cohen", []Param{{Key: "subject:Patient.name", Name: "subject", Modifier: "Patient",
			Chain: "name", Values: []string{"Cohen"}, Raw: "Cohen"}}},
		{"long chain", "subject:Patient.organization:Organization.name:exact=HMO", []Param{{
			Key: "subject:Patient.organization:Organization.name:exact", Name: "subject", Modifier: "Patient",
			Chain: "organization:Organization.name:exact", Values: []string{"HMO"}, Raw: "HMO"}}},
		{"has", "_has:Observation:patient:code=1234-5", []Param{{Key: "_has:Observation:patient:code", Name: "_has",
			IsHas: true, Chain: "Observation:patient:code", Values: []string{"1234-5"}, Raw: "1234-5"}}},
		{"nested has", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1", []Param{{
			Key: "_has:Observation:patient:_has:AuditEvent:entity:agent", Name: "_has", IsHas: true,
			Chain: "Observation:patient:_has:AuditEvent:entity:agent", Values: []string{"Practitioner/1"}, Raw: "Practitioner/1"}}},
		{"has with modifier", "_has:Observation:patient:code:text=x", []Param{{Key: "_has:Observation:patient:code:text",
			Name: "_has", IsHas: true, Chain: "Observation:patient:code:text", Values: []string{"x"}, Raw: "x"}}},
		{"include value", "_include=Observation:subject:Patient", []Param{{Key: "_include", Name: "_include",
			Values: []string{"Observation:subject:Patient"}, Raw: "Observation:subject:Patient"}}},
		{"repeated keeps order", "date=ge2024&date=lt2025", []Param{
			{Key: "date", Name: "date", Values: []string{"ge2024"}, Raw: "ge2024"},
			{Key: "date", Name: "date", Values: []string{"lt2025"}, Raw: "lt2025"},
		}},
		{"equals in value", "x=a=b", []Param{{Key: "x", Name: "x", Values: []string{"a=b"}, Raw: "a=b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuery(tc.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.query, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEncodeQuery(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "category=laboratory&date=ge2024-01-01", "category=laboratory&date=ge2024-01-01"},
		{"space and plus", "name=a+b&date=x%2B1", "name=a%20b&date=x%2B1"},
		{"pipe and slash raw", "code=http%3A%2F%2Floinc.org%7C1", "code=http://loinc.org|1"},
		{"escaped comma encoded", `code=a\,b,c`, "code=a%5C%2Cb,c"},
		{"utf-8", "name=%d7%9b", "name=%D7%9B"},
		{"specials", "x=%26%3D%3F%23%3B%25", "x=%26%3D%3F%23%3B%25"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, err := ParseQuery(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := EncodeQuery(params)
			if got != tc.want {
				t.Fatalf("EncodeQuery = %q, want %q", got, tc.want)
			}
			again, err := ParseQuery(got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, params) {
				t.Fatalf("round trip differs: %+v vs %+v", again, params)
			}
		})
	}
}

func TestValidParamName(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"_security", true},
		{"code", true},
		{"general-practitioner", true},
		{"code:not", true},
		{"subject:Patient.name", true},
		{"_has:Observation:patient:code", true},
		{"", false},
		{"-code", false},
		{"code:", false},
		{":not", false},
		{"code.", false},
		{"code=x", false},
		{"co de", false},
		{"_has:", false},
		{"_has:Observation", false},
		{"_has:Observation:patient:", false},
		{"_has:Observation:patient:_has:", false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := ValidParamName(tc.key); got != tc.want {
				t.Fatalf("ValidParamName(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

func TestIsID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"1", true},
		{"patient-with-israeli-id", true},
		{"A.b-9", true},
		{string(make65()[:64]), true},
		{string(make65()), false},
		{"", false},
		{"a_b", false},
		{"a/b", false},
		{"a b", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := IsID(tc.id); got != tc.want {
				t.Fatalf("IsID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}
