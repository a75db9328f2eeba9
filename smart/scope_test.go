package smart

import (
	"reflect"
	"testing"
)

const lab = "http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests"

func TestParseOneValid(t *testing.T) {
	none := map[string][]string{}
	tests := []struct {
		name string
		in   string
		want Scope
	}{
		{"v2 rs", "patient/Observation.rs",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Constraints: none, Version: 2}},
		{"v2 cruds user wildcard", "user/*.cruds",
			Scope{Context: "user", ResourceType: "*", Permissions: "cruds", Constraints: none, Version: 2}},
		{"v2 single letter", "system/Patient.s",
			Scope{Context: "system", ResourceType: "Patient", Permissions: "s", Constraints: none, Version: 2}},
		{"v2 cd", "patient/Condition.cd",
			Scope{Context: "patient", ResourceType: "Condition", Permissions: "cd", Constraints: none, Version: 2}},
		{"v1 read", "patient/Observation.read",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Constraints: none, Version: 1}},
		{"v1 write", "user/Encounter.write",
			Scope{Context: "user", ResourceType: "Encounter", Permissions: "cud", Constraints: none, Version: 1}},
		{"v1 star", "patient/*.*",
			Scope{Context: "patient", ResourceType: "*", Permissions: "cruds", Constraints: none, Version: 1}},
		{"v1 system read", "system/*.read",
			Scope{Context: "system", ResourceType: "*", Permissions: "rs", Constraints: none, Version: 1}},
		{"bucket constraint", "patient/Observation.rs?_security=" + lab,
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"_security": {lab}}}},
		{"encoded constraint", "patient/Observation.rs?_security=http%3A%2F%2Ffhir.health.gov.il%2Fcs%2Fil-hdp-information-buckets%7CLaboratoryTests",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"_security": {lab}}}},
		{"two params and repeats", "patient/Encounter.rs?_security=a|EncounterInformation&date=ge2024-01-01&_security=a|Other",
			Scope{Context: "patient", ResourceType: "Encounter", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"_security": {"a|EncounterInformation", "a|Other"}, "date": {"ge2024-01-01"}}}},
		{"encoded plus", "patient/Observation.rs?date=ge2024-01-01T00:00:00%2B02:00",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"date": {"ge2024-01-01T00:00:00+02:00"}}}},
		{"comma kept", "patient/Observation.rs?category=laboratory,vital-signs",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"category": {"laboratory,vital-signs"}}}},
		{"modifier in constraint", "patient/Observation.rs?code:in=http://x/vs",
			Scope{Context: "patient", ResourceType: "Observation", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"code:in": {"http://x/vs"}}}},
		{"wildcard with constraint", "patient/*.rs?_security=" + lab,
			Scope{Context: "patient", ResourceType: "*", Permissions: "rs", Version: 2,
				Constraints: map[string][]string{"_security": {lab}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseOne(tc.in)
			if !ok {
				t.Fatalf("ParseOne(%q) rejected", tc.in)
			}
			tc.want.Raw = tc.in
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseOneInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"openid", "openid"},
		{"fhirUser", "fhirUser"},
		{"launch", "launch"},
		{"launch/patient", "launch/patient"},
		{"launch/encounter", "launch/encounter"},
		{"offline_access", "offline_access"},
		{"online_access", "online_access"},
		{"lower-case type", "patient/observation.rs"},
		{"unknown type", "patient/Observations.rs"},
		{"abstract type", "patient/Resource.rs"},
		{"unknown letter", "patient/Observation.rsx"},
		{"out of order", "patient/Observation.sr"},
		{"out of order c", "patient/Observation.rsc"},
		{"repeat", "patient/Observation.rrs"},
		{"upper-case letters", "patient/Observation.RS"},
		{"empty permissions", "patient/Observation."},
		{"no permissions", "patient/Observation"},
		{"empty type", "patient/.rs"},
		{"bad context", "admin/Observation.rs"},
		{"capitalised context", "Patient/Observation.rs"},
		{"no context", "Observation.rs"},
		{"empty context", "/Observation.rs"},
		{"double slash", "patient//Observation.rs"},
		{"extra dot", "patient/Observation.rs.x"},
		{"v1 mixed case", "patient/Observation.Read"},
		{"v1 with query", "patient/Observation.read?category=laboratory"},
		{"v1 star with query", "patient/*.*?_security=x"},
		{"dangling question mark", "patient/Observation.rs?"},
		{"trailing ampersand", "patient/Observation.rs?category=x&"},
		{"empty pair", "patient/Observation.rs?a=1&&b=2"},
		{"no equals", "patient/Observation.rs?category"},
		{"empty name", "patient/Observation.rs?=x"},
		{"empty value", "patient/Observation.rs?category="},
		{"bad name", "patient/Observation.rs?cat*egory=x"},
		{"bad escape", "patient/Observation.rs?category=%zz"},
		{"truncated escape", "patient/Observation.rs?category=%4"},
		{"double encoding", "patient/Observation.rs?category=%2541"},
		{"encoded nul", "patient/Observation.rs?category=%00"},
		{"invalid utf-8", "patient/Observation.rs?category=%FF"},
		{"raw plus", "patient/Observation.rs?date=ge2024-01-01T00:00:00+02:00"},
		{"semicolon", "patient/Observation.rs?a=1;b=2"},
		{"second question mark", "patient/Observation.rs?a=1?b=2"},
		{"quote", `patient/Observation.rs?a="x"`},
		{"backslash", `patient/Observation.rs?a=x\,y`},
		{"tab", "patient/Observation.rs\t"},
		{"non-ascii", "patient/Observation.rs?name=\u05d0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := ParseOne(tc.in); ok {
				t.Fatalf("ParseOne(%q) accepted: %+v", tc.in, got)
			}
		})
	}
}

func TestParse(t *testing.T) {
	in := "openid fhirUser launch/patient offline_access patient/Patient.rs patient/observation.rs " +
		"patient/Observation.rs?_security=" + lab + "  user/Encounter.write patient/Observation.rsx"
	got := Parse(in)
	wantRaw := []string{"patient/Patient.rs", "patient/Observation.rs?_security=" + lab, "user/Encounter.write"}
	if len(got) != len(wantRaw) {
		t.Fatalf("Parse returned %d scopes: %+v", len(got), got)
	}
	for i, s := range got {
		if s.Raw != wantRaw[i] {
			t.Errorf("scope %d raw = %q, want %q", i, s.Raw, wantRaw[i])
		}
	}
	if Parse("") != nil || Parse("openid profile") != nil {
		t.Fatal("expected nil for no resource scopes")
	}
	// A tab is not a separator (RFC 6749 uses single spaces): the whole
	// token is invalid instead of becoming two valid scopes.
	if got := Parse("patient/Patient.rs\tpatient/Observation.rs"); got != nil {
		t.Fatalf("tab-joined scopes accepted: %+v", got)
	}
}

func TestAllows(t *testing.T) {
	s, ok := ParseOne("patient/Observation.rs")
	if !ok {
		t.Fatal("rejected")
	}
	tests := []struct {
		perm byte
		want bool
	}{
		{'r', true}, {'s', true}, {'c', false}, {'u', false}, {'d', false}, {'x', false}, {0, false},
	}
	for _, tc := range tests {
		if got := s.Allows(tc.perm); got != tc.want {
			t.Errorf("Allows(%q) = %v, want %v", tc.perm, got, tc.want)
		}
	}
	w, _ := ParseOne("user/Observation.write")
	for perm, want := range map[byte]bool{'c': true, 'u': true, 'd': true, 'r': false, 's': false} {
		if got := w.Allows(perm); got != want {
			t.Errorf("v1 write Allows(%q) = %v, want %v", perm, got, want)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"patient/Observation.rs", "patient/Observation.rs"},
		{"patient/Observation.read", "patient/Observation.read"},
		{"user/*.write", "user/*.write"},
		{"user/*.*", "user/*.*"},
		{"patient/Observation.rs?date=ge2024&_security=" + lab, "patient/Observation.rs?_security=" + lab + "&date=ge2024"},
		{"patient/Observation.rs?name=a%20b%2Bc%26d", "patient/Observation.rs?name=a%20b%2Bc%26d"},
		{"patient/Observation.rs?code=x%7Cy", "patient/Observation.rs?code=x|y"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, ok := ParseOne(tc.in)
			if !ok {
				t.Fatal("rejected")
			}
			if got := s.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
