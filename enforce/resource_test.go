package enforce

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func obs(ref string, extra ...string) string {
	s := `{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"` + ref + `"}`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func TestCheckResource(t *testing.T) {
	a := testAccess(t)
	tests := []struct {
		name   string
		body   string
		reason Reason
	}{
		{"own patient", obs("Patient/a"), ReasonNone},
		{"second own id", obs("Patient/patient-with-israeli-id"), ReasonNone},
		{"other patient", obs("Patient/b"), ReasonOtherPatient},
		{"id prefix is not a match", obs("Patient/ab"), ReasonOtherPatient},
		{"id is case sensitive", obs("Patient/A"), ReasonOtherPatient},
		{"type is case sensitive for ownership", obs("patient/a"), ReasonOtherPatient},
		{"history suffix", obs("Patient/a/_history/2"), ReasonNone},
		{"bad history suffix", obs("Patient/a/_history/"), ReasonOtherPatient},
		{"trailing slash", obs("Patient/a/"), ReasonOtherPatient},
		{"query after id", obs("Patient/a?x=1"), ReasonOtherPatient},
		{"absolute upstream", obs(testUpstream + "/Patient/a"), ReasonNone},
		{"absolute upstream with history", obs(testUpstream + "/Patient/a/_history/7"), ReasonNone},
		{"absolute public", obs(testPublic + "/Patient/a"), ReasonNone},
		{"absolute other server", obs("http://other.example/fhir/Patient/a"), ReasonOtherPatient},
		{"upstream prefix without boundary", obs(testUpstream + "x/Patient/a"), ReasonOtherPatient},
		{"urn reference", obs("urn:uuid:0f0d6b4c-6d47-4f0e-9d2e-7c3d0f1c2b3a"), ReasonNoPatientReference},
		{"local reference", obs("#p1"), ReasonNoPatientReference},
		{"reference to another type", obs("Group/a"), ReasonNoPatientReference},
		{"escaped reference", obs(`Patient\/a`), ReasonNone},
		{"unicode escaped reference", obs(`Patient/\u0061`), ReasonNone},
		{"no subject", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `}`, ReasonNoPatientReference},
		{"subject is a string", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":"Patient/a"}`, ReasonNoPatientReference},
		{"reference is not a string", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"reference":["Patient/a"]}}`, ReasonNoPatientReference},
		{"type that is not a string before an own reference", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"type":1,"reference":"Patient/a"}}`, ReasonNoPatientReference},
		{"type that is not a string after an own reference", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a","type":{}}}`, ReasonNoPatientReference},
		{"contained with a malformed type before a reference", obs("Patient/a", `"contained":[{"resourceType":"Specimen","subject":{"type":null,"reference":"Patient/a"}}]`), ReasonContained},
		{"logical reference only", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"identifier":{"system":"http://fhir.health.gov.il/identifier/il-national-id","value":"000000018"}}}`, ReasonOtherPatient},
		{"identifier next to own reference", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"identifier":{"value":"000000018"},"reference":"Patient/a"}}`, ReasonNone},
		{"own performer, foreign subject (every compartment element must be ours)", obs("Patient/b", `"performer":[{"reference":"Practitioner/p"},{"reference":"Patient/a"}]`), ReasonOtherPatient},
		{"own subject, foreign performer", obs("Patient/a", `"performer":[{"reference":"Patient/b"}]`), ReasonOtherPatient},
		{"own subject, own performer", obs("Patient/a", `"performer":[{"reference":"Patient/patient-with-israeli-id"}]`), ReasonNone},
		{"own subject, performer on another server", obs("Patient/a", `"performer":[{"reference":"http://other.example/fhir/Patient/a"}]`), ReasonOtherPatient},
		{"own subject, performer by identifier only", obs("Patient/a", `"performer":[{"identifier":{"value":"000000018"}}]`), ReasonOtherPatient},
		{"own subject, practitioner performer", obs("Patient/a", `"performer":[{"reference":"Practitioner/p"}]`), ReasonNone},
		{"own subject, malformed performer", obs("Patient/a", `"performer":[{"reference":["Patient/b"]}]`), ReasonOtherPatient},
		{"own subject, performer that is a string", obs("Patient/a", `"performer":["Patient/b"]`), ReasonOtherPatient},
		{"care team: own subject, foreign participant", `{"resourceType":"CareTeam",` + metaLabels("practitioner") + `,"subject":{"reference":"Patient/a"},"participant":[{"member":{"reference":"Patient/b"}}]}`, ReasonOtherPatient},
		{"care team: own subject, own participant", `{"resourceType":"CareTeam",` + metaLabels("practitioner") + `,"subject":{"reference":"Patient/a"},"participant":[{"member":{"reference":"Patient/a"}},{"member":{"reference":"Practitioner/p"}}]}`, ReasonNone},
		{"care team: foreign subject, own participant", `{"resourceType":"CareTeam",` + metaLabels("practitioner") + `,"subject":{"reference":"Patient/b"},"participant":[{"member":{"reference":"Patient/a"}}]}`, ReasonOtherPatient},
		{"foreign performer only", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"performer":[{"reference":"Patient/b"}]}`, ReasonOtherPatient},
		{"nested path through array", `{"resourceType":"Encounter",` + metaLabels("encounterInformation") + `,"participant":[{"type":[]},{"individual":{"reference":"Patient/a"}}]}`, ReasonNone},
		{"nested path foreign", `{"resourceType":"Encounter",` + metaLabels("encounterInformation") + `,"participant":[{"individual":{"reference":"Patient/b"}}]}`, ReasonOtherPatient},
		{"key in another case", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"Subject":{"Reference":"Patient/a"}}`, ReasonNone},
		{"key in another case, foreign", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"SUBJECT":{"reference":"Patient/b"}}`, ReasonOtherPatient},
		{"key with unicode fold", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"ſubject":{"reference":"Patient/b"}}`, ReasonOtherPatient},
		{"escaped key", `{"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subj\u0065ct":{"reference":"Patient/b"}}`, ReasonOtherPatient},

		{"missing label", `{"resourceType":"Observation","subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"empty security", `{"resourceType":"Observation","meta":{"security":[]},"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"label in other case", `{"resourceType":"Observation",` + metaLabels("LABORATORYTESTS") + `,"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"label with non-ASCII fold is not folded", `{"resourceType":"Observation",` + metaLabels("laboratoryTeſts") + `,"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"alias system", `{"resourceType":"Observation","meta":{"security":[{"system":"` + legacySystem + `","code":"laboratoryTests"}]},"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"unknown system", `{"resourceType":"Observation","meta":{"security":[{"system":"http://example.org/buckets","code":"laboratoryTests"}]},"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"label without system", `{"resourceType":"Observation","meta":{"security":[{"code":"laboratoryTests"}]},"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"bucket of another type", `{"resourceType":"Observation",` + metaLabels("encounterInformation") + `,"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"two labels, one granted", `{"resourceType":"Observation",` + metaLabels("mentalHealth", "measurements") + `,"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"two labels, none granted", `{"resourceType":"Observation",` + metaLabels("mentalHealth", "sexualHealth") + `,"subject":{"reference":"Patient/a"}}`, ReasonNoBucket},
		{"other patient wins over no bucket", `{"resourceType":"Observation","subject":{"reference":"Patient/b"}}`, ReasonOtherPatient},
		{"type not granted", `{"resourceType":"MedicationRequest",` + metaLabels("medications") + `,"subject":{"reference":"Patient/a"}}`, ReasonTypeNotGranted},

		{"practitioner with bucket", `{"resourceType":"Practitioner","id":"p1",` + metaLabels("practitioner") + `}`, ReasonNone},
		{"practitioner without bucket", `{"resourceType":"Practitioner","id":"p1"}`, ReasonNoBucket},
		{"organization with bucket", `{"resourceType":"Organization","id":"o",` + metaLabels("organization") + `}`, ReasonNone},
		{"outside the compartment, own link", `{"resourceType":"Person",` + metaLabels("patientDemographics") + `,"link":[{"target":{"reference":"Patient/a"}}]}`, ReasonNone},
		{"outside the compartment, foreign link", `{"resourceType":"Person",` + metaLabels("patientDemographics") + `,"link":[{"target":{"reference":"Patient/a"}},{"target":{"reference":"Patient/b"}}]}`, ReasonOtherPatient},
		{"outside the compartment, foreign reference deep in an extension", `{"resourceType":"Practitioner",` + metaLabels("practitioner") + `,"extension":[{"url":"x","valueReference":{"reference":"http://x.example/Patient/a"}}]}`, ReasonOtherPatient},
		{"outside the compartment, foreign reference in meta", `{"resourceType":"Practitioner","meta":{"security":[` + label("practitioner") + `],"extension":[{"valueReference":{"reference":"Patient/b"}}]}}`, ReasonOtherPatient},
		{"outside the compartment, patient-named id of another type", `{"resourceType":"Practitioner",` + metaLabels("practitioner") + `,"extension":[{"valueReference":{"reference":"Practitioner/patient"}}]}`, ReasonNone},
		{"contained outside the compartment, foreign", obs("Patient/a", `"contained":[{"resourceType":"Person","link":[{"target":{"reference":"Patient/b"}}]}]`), ReasonContained},
		{"contained foreign inside an outside parent", `{"resourceType":"Practitioner",` + metaLabels("practitioner") + `,"contained":[{"resourceType":"Specimen","subject":{"reference":"Patient/b"}}]}`, ReasonContained},
		{"deep scan does not look into contained resources", `{"resourceType":"Practitioner",` + metaLabels("practitioner") + `,"contained":[{"parent":[{"reference":"Patient/b"}],"subject":{"reference":"Patient/a"},"resourceType":"Specimen"}]}`, ReasonNone},
		{"compartment type: references off the paths are not read", obs("Patient/a", `"focus":[{"reference":"Patient/b"}]`), ReasonNone},
		{"own Patient", `{"resourceType":"Patient","id":"a",` + metaLabels("patientDemographics") + `}`, ReasonNone},
		{"other Patient", `{"resourceType":"Patient","id":"b",` + metaLabels("patientDemographics") + `}`, ReasonOtherPatient},
		{"other Patient linking to own", `{"resourceType":"Patient","id":"b",` + metaLabels("patientDemographics") + `,"link":[{"other":{"reference":"Patient/a"},"type":"seealso"}]}`, ReasonOtherPatient},
		{"Patient without id", `{"resourceType":"Patient",` + metaLabels("patientDemographics") + `}`, ReasonOtherPatient},
		{"Patient escaped id", `{"resourceType":"Patient","id":"\u0061",` + metaLabels("patientDemographics") + `}`, ReasonNone},

		{"contained own", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"Patient/a"}}]`), ReasonNone},
		{"contained without patient reference", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s"}]`), ReasonNone},
		{"contained foreign", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"Patient/b"}}]`), ReasonContained},
		{"contained foreign absolute", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"https://x.example/Patient/a"}}]`), ReasonContained},
		{"contained logical patient reference", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s","subject":{"identifier":{"value":"1"}}}]`), ReasonContained},
		{"contained malformed path", obs("Patient/a", `"contained":[{"resourceType":"Specimen","id":"s","subject":"Patient/b"}]`), ReasonContained},
		{"contained Patient", obs("Patient/a", `"contained":[{"resourceType":"Patient","id":"a"}]`), ReasonContained},
		{"contained Bundle", obs("Patient/a", `"contained":[{"resourceType":"Bundle","type":"collection"}]`), ReasonContained},
		{"contained practitioner unlabelled", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","id":"p"}]`), ReasonNone},
		{"contained label granted for parent", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","id":"p",`+metaLabels("laboratoryTests")+`}]`), ReasonNone},
		{"contained label granted for itself", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","id":"p",`+metaLabels("practitioner")+`}]`), ReasonNone},
		{"contained label not granted", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","id":"p",`+metaLabels("mentalHealth")+`}]`), ReasonContained},
		{"contained non-bucket label", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}}]`), ReasonNone},
		{"contained nested contained", obs("Patient/a", `"contained":[{"resourceType":"Practitioner","contained":[]}]`), ReasonContained},
		{"contained not an array", obs("Patient/a", `"contained":{"resourceType":"Practitioner"}`), ReasonContained},
		{"contained not a resource", obs("Patient/a", `"contained":[1]`), ReasonContained},
		{"contained before resourceType", `{"contained":[{"resourceType":"Specimen","subject":{"reference":"Patient/b"}}],"resourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}`, ReasonContained},
		{"CareTeam fixture shape", `{"resourceType":"CareTeam",` + metaLabels("practitioner") + `,"contained":[{"resourceType":"Practitioner","id":"pr1"}],"participant":[{"member":{"reference":"Patient/a"}},{"member":{"reference":"#pr1"}}],"subject":{"reference":"Patient/a"}}`, ReasonNone},

		{"resourceType not first", `{"id":"o1","subject":{"reference":"Patient/a"},` + metaLabels("laboratoryTests") + `,"resourceType":"Observation"}`, ReasonNone},
		{"resourceType escaped", `{"resourceType":"Observ\u0061tion",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"resourceType key in other case", `{"ResourceType":"Observation",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"resourceType number", `{"resourceType":1}`, ReasonNotAResource},
		{"resourceType null", `{"resourceType":null,"id":"x"}`, ReasonNotAResource},
		{"resourceType object", `{"resourceType":{"value":"Observation"}}`, ReasonNotAResource},
		{"resourceType array", `{"resourceType":["Observation"]}`, ReasonNotAResource},
		{"resourceType empty", `{"resourceType":""}`, ReasonNotAResource},
		{"resourceType lower case", `{"resourceType":"observation","subject":{"reference":"Patient/a"}}`, ReasonNotAResource},
		{"resourceType with space", `{"resourceType":"Observation "}`, ReasonNotAResource},
		{"resourceType missing", `{"id":"x"}`, ReasonNotAResource},
		{"empty object", `{}`, ReasonNotAResource},
		{"Bundle", `{"resourceType":"Bundle","type":"searchset",` + metaLabels("laboratoryTests") + `}`, ReasonUnsupportedType},
		{"Parameters", `{"resourceType":"Parameters",` + metaLabels("laboratoryTests") + `}`, ReasonUnsupportedType},
		{"array body", `[{"resourceType":"Observation"}]`, ReasonNotAResource},
		{"string body", `"Observation"`, ReasonNotAResource},
		{"number body", `42`, ReasonNotAResource},
		{"null body", ` null `, ReasonNotAResource},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := a.CheckResource([]byte(tc.body))
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if v.Reason != tc.reason || v.Allowed != (tc.reason == ReasonNone) {
				t.Fatalf("got %+v (%s), want %s", v, v.Reason, tc.reason)
			}
		})
	}
}

func TestCheckResourceStarGrant(t *testing.T) {
	a, err := testEnforcer(t).Access(Scope{PatientIDs: []string{"a"}, Grants: map[string][]Bucket{
		"*":           {{HDPBucketSystemLegacy, "medications"}},
		"Observation": {{HDPBucketSystem, "laboratoryTests"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   string
		reason Reason
	}{
		{"type granted by star", `{"resourceType":"MedicationRequest",` + metaLabels("Medications") + `}`, ReasonNone},
		{"star bucket on a type with its own grants", obs("Patient/a") + "", ReasonNone},
		{"star bucket applies to listed type", `{"resourceType":"Observation",` + metaLabels("medications") + `,"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"star type still needs a bucket", `{"resourceType":"Medication",` + metaLabels("laboratoryTests") + `}`, ReasonNoBucket},
		{"star type still needs the patient", `{"resourceType":"Condition",` + metaLabels("medications") + `,"subject":{"reference":"Patient/b"}}`, ReasonOtherPatient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := a.CheckResource([]byte(tc.body))
			if err != nil || v.Reason != tc.reason {
				t.Fatalf("got %+v, %v; want %s", v, err, tc.reason)
			}
		})
	}
}

func TestCheckResourceErrors(t *testing.T) {
	a := testAccess(t)
	small, err := New(Config{Compartment: testCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic, MaxBytes: 64, MaxDepth: 5})
	if err != nil {
		t.Fatal(err)
	}
	as, err := small.Access(Scope{PatientIDs: []string{"a"}, Grants: testGrants()})
	if err != nil {
		t.Fatal(err)
	}
	deep := func(n int) string {
		return `{"resourceType":"Practitioner","x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	tests := []struct {
		name string
		a    *Access
		body string
		want error
	}{
		{"empty", a, ``, ErrSyntax},
		{"only space", a, "  \n", ErrSyntax},
		{"truncated", a, `{"resourceType":"Observation"`, ErrSyntax},
		{"trailing comma", a, `{"resourceType":"Observation",}`, ErrSyntax},
		{"trailing garbage", a, `{"resourceType":"Observation"} x`, ErrSyntax},
		{"two values", a, `{} {}`, ErrSyntax},
		{"single quotes", a, `{'resourceType':'Observation'}`, ErrSyntax},
		{"unquoted key", a, `{resourceType:"Observation"}`, ErrSyntax},
		{"control character in string", a, "{\"resourceType\":\"Obs\tervation\"}", ErrSyntax},
		{"invalid UTF-8", a, "{\"resourceType\":\"Observation\",\"x\":\"\xff\"}", ErrSyntax},
		{"overlong UTF-8", a, "{\"x\":\"\xc0\xaf\"}", ErrSyntax},
		{"lone high surrogate", a, `{"x":"\ud800"}`, ErrSyntax},
		{"lone low surrogate", a, `{"x":"\udc00x"}`, ErrSyntax},
		{"bad escape", a, `{"x":"\q"}`, ErrSyntax},
		{"short unicode escape", a, `{"x":"\u12"}`, ErrSyntax},
		{"leading zero", a, `{"x":01}`, ErrSyntax},
		{"bare minus", a, `{"x":-}`, ErrSyntax},
		{"dot without digits", a, `{"x":1.}`, ErrSyntax},
		{"exponent without digits", a, `{"x":1e}`, ErrSyntax},
		{"plus sign", a, `{"x":+1}`, ErrSyntax},
		{"NaN", a, `{"x":NaN}`, ErrSyntax},
		{"bad literal", a, `{"x":tru}`, ErrSyntax},
		{"BOM", a, "\xef\xbb\xbf{}", ErrSyntax},
		{"invalid non-object body", a, `[1,]`, ErrSyntax},
		{"duplicate resourceType", a, `{"resourceType":"Observation","resourceType":"Patient"}`, ErrDuplicateKey},
		{"duplicate id", a, `{"resourceType":"Patient","id":"b","id":"a"}`, ErrDuplicateKey},
		{"duplicate meta", a, `{"resourceType":"Practitioner","meta":{},"meta":{}}`, ErrDuplicateKey},
		{"duplicate security", a, `{"resourceType":"Practitioner","meta":{"security":[],"security":[]}}`, ErrDuplicateKey},
		{"duplicate code in a label", a, `{"resourceType":"Practitioner","meta":{"security":[{"code":"a","code":"b"}]}}`, ErrDuplicateKey},
		{"duplicate reference", a, `{"resourceType":"Observation","subject":{"reference":"Patient/a","reference":"Patient/b"}}`, ErrDuplicateKey},
		{"duplicate in an unchecked element", a, `{"resourceType":"Observation","valueQuantity":{"value":1,"value":2}}`, ErrDuplicateKey},
		{"duplicate in a contained resource", a, `{"resourceType":"Observation","contained":[{"resourceType":"Specimen","id":"x","id":"y"}]}`, ErrDuplicateKey},
		{"duplicate before resourceType", a, `{"x":{"a":1,"a":1},"resourceType":"Observation"}`, ErrDuplicateKey},
		{"duplicate in non-object body", a, `[{"a":1,"a":2}]`, ErrDuplicateKey},
		{"duplicate by case", a, `{"resourceType":"Observation","ResourceType":"Patient"}`, ErrDuplicateKey},
		{"duplicate by escape", a, `{"resourceType":"Patient","id":"b","\u0069d":"a"}`, ErrDuplicateKey},
		{"duplicate by unicode fold", a, `{"resourceType":"Observation","subject":{"reference":"Patient/a"},"ſubject":{"reference":"Patient/b"}}`, ErrDuplicateKey},
		{"duplicate by kelvin sign", a, `{"resourceType":"Observation","k":1,"\u212a":2}`, ErrDuplicateKey},
		{"at max bytes", as, padTo(`{"resourceType":"Practitioner","id":"`, `"}`, 64), nil},
		{"over max bytes", as, padTo(`{"resourceType":"Practitioner","id":"`, `"}`, 65), ErrTooLarge},
		{"at max depth", as, deep(5), nil},
		{"over max depth", as, deep(6), ErrTooDeep},
		{"over max depth in a non-object body", as, strings.Repeat("[", 6) + strings.Repeat("]", 6), ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.a.CheckResource([]byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v (body %d bytes)", err, tc.want, len(tc.body))
			}
			if err != nil && v.Allowed {
				t.Fatal("allowed despite error")
			}
		})
	}
}

// A duplicate key in an object with many keys goes through the set path.
func TestDuplicateKeyManyKeys(t *testing.T) {
	a := testAccess(t)
	var b strings.Builder
	b.WriteString(`{"resourceType":"Practitioner"`)
	for i := range 200 {
		fmt.Fprintf(&b, `,"k%d":1`, i)
	}
	ok := b.String() + "}"
	if _, err := a.CheckResource([]byte(ok)); err != nil {
		t.Fatalf("distinct keys: %v", err)
	}
	for _, dup := range []string{`,"k7":2}`, `,"K199":2}`, `,"k\u0037":2}`, `,"resourcetype":"Patient"}`} {
		_, err := a.CheckResource([]byte(b.String() + dup))
		if !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("%s: got %v", dup, err)
		}
	}
}

func padTo(prefix, suffix string, n int) string {
	return prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix
}
