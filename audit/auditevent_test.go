package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testProfile = AuditEventProfile{
	DataSourceMemberID: "org-ds-hmo-b",
	DataSourceName:     "HMO B - Clinical Data Source",
	Site:               "fhir.hmo-b.example",
}

func TestAuditEventGolden(t *testing.T) {
	tests := []struct {
		name   string
		record func(testing.TB) Record
	}{
		{"allow", allowRecord},
		{"deny", denyRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := testProfile.Encode(tt.record(t))
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "auditevent_"+tt.name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if pretty.String() != string(want) {
				t.Fatalf("AuditEvent differs from %s:\n%s", golden, pretty.String())
			}
			assertNoNationalID(t, string(body))
		})
	}
}

func assertNoNationalID(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, testNationalID) || nationalIDPattern.MatchString(s) || strings.Contains(s, "il-national-id") {
		t.Fatalf("output contains a national id or its system: %s", s)
	}
}

func TestAuditEventMapping(t *testing.T) {
	tests := []struct {
		interaction, action, subtype string
	}{
		{"read", "R", "read"},
		{"vread", "R", "vread"},
		{"history-instance", "R", "history-instance"},
		{"history-type", "R", "history-type"},
		{"history-system", "R", "history-system"},
		{"capabilities", "R", "capabilities"},
		{"create", "C", "create"},
		{"update", "U", "update"},
		{"patch", "U", "patch"},
		{"delete", "D", "delete"},
		{"search-type", "E", "search-type"},
		{"search-system", "E", "search-system"},
		{"search-compartment", "E", "search"},
		{"operation", "E", "operation"},
		{"batch", "E", "batch"},
		{"transaction", "E", "transaction"},
		{"", "E", ""},
		{"bogus", "E", ""},
	}
	for _, tt := range tests {
		t.Run("interaction "+tt.interaction, func(t *testing.T) {
			ev := testProfile.auditEvent(Record{Interaction: tt.interaction, Outcome: OutcomeAllow})
			if ev.Action != tt.action {
				t.Errorf("action = %q, want %q", ev.Action, tt.action)
			}
			var subtype string
			if len(ev.Subtype) == 1 {
				subtype = ev.Subtype[0].Code
			} else if len(ev.Subtype) > 1 {
				t.Fatalf("%d subtypes", len(ev.Subtype))
			}
			if subtype != tt.subtype {
				t.Errorf("subtype = %q, want %q", subtype, tt.subtype)
			}
		})
	}
	outcomes := []struct{ outcome, code string }{
		{OutcomeAllow, "0"}, {OutcomeDeny, "4"}, {OutcomeError, "8"}, {"", "8"}, {"ALLOW", "8"},
	}
	for _, tt := range outcomes {
		t.Run("outcome "+tt.outcome, func(t *testing.T) {
			if got := testProfile.auditEvent(Record{Outcome: tt.outcome}).Outcome; got != tt.code {
				t.Fatalf("outcome = %q, want %q", got, tt.code)
			}
		})
	}
	refs := []struct{ ref, system, code string }{
		{"Consent/123", systemResourceTypes, "Consent"},
		{"https://pcm.example/fhir/Consent/9/", systemResourceTypes, "Consent"},
		{"HealthcareService/hs-1", systemResourceTypes, "HealthcareService"},
		{"urn:uuid:1234", systemEntityType, "2"},
		{"consent/123", systemEntityType, "2"},
		{"Consent-1/2", systemEntityType, "2"},
	}
	for _, tt := range refs {
		t.Run("reference "+tt.ref, func(t *testing.T) {
			c := referenceType(tt.ref)
			if c.System != tt.system || c.Code != tt.code {
				t.Fatalf("type = %s|%s, want %s|%s", c.System, c.Code, tt.system, tt.code)
			}
		})
	}
}

func TestAuditEventMinimal(t *testing.T) {
	// A denial before anything was known: no member, no patient, no
	// consent, no interaction. Still a valid AuditEvent with the decision.
	body, err := AuditEventProfile{DataSourceName: "HMO B"}.Encode(Record{
		DecisionID: "abc", Time: testTime, Outcome: OutcomeDeny, Status: 401, Reason: "no_token",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"AuditEvent",` +
		`"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"RESTful Operation"},` +
		`"action":"E","recorded":"2026-11-22T08:00:00.123Z","outcome":"4","outcomeDesc":"no_token",` +
		`"agent":[{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110153","display":"Source Role ID"}]},"requestor":true},` +
		`{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110152","display":"Destination Role ID"}]},"who":{"display":"HMO B"},"requestor":false}],` +
		`"source":{"observer":{"display":"fhir-pep"},"type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4","display":"Application Server"}]},` +
		`"entity":[{"what":{"identifier":{"system":"https://github.com/hdp-il/fhir-pep/identifier/decision-id","value":"abc"}},` +
		`"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2","display":"System Object"},` +
		`"detail":[{"type":"reason","valueString":"no_token"},{"type":"status","valueString":"401"},{"type":"returned","valueString":"0"},{"type":"withheld","valueString":"0"}]}]}`
	if string(body) != want {
		t.Fatalf("got\n%s\nwant\n%s", body, want)
	}
}

func BenchmarkAuditEventEncode(b *testing.B) {
	r := allowRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testProfile.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}
