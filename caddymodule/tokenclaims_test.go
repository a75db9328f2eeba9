package caddymodule

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hdp-il/fhir-pep/introspection"
)

// TestNationalClaimsThroughTheHandler runs tokens in the shapes of the national PCM through
// the handler: accepted shapes reach the upstream, unusable claims are 401
// invalid_token (never 503, never a patient lookup), a token of another
// organization is 403, and each check can be turned off.
func TestNationalClaimsThroughTheHandler(t *testing.T) {
	off := func() *bool { return new(bool) }
	tests := []struct {
		name   string
		edit   func(a map[string]any)
		config func(c *PCMConfig)
		status int
		reason string
	}{
		{name: "seed shape", status: 200, reason: "allowed"},
		{name: "bare national id", edit: func(a map[string]any) { a["patient"] = "000000018" }, status: 200, reason: "allowed"},
		{name: "national adapter claims", edit: func(a map[string]any) {
			a["patient"], a["consent_id"], a["access_type"], a["sp_organization_id"] = "000000018", "consent-12345", "continuous", "org-sp-hospital-a"
			a["baskets"] = []any{"laboratoryTests"}
			delete(a, "fhirContext")
			delete(a, "organization_id")
		}, status: 200, reason: "allowed"},
		{name: "bad check digit", edit: func(a map[string]any) { a["patient"] = "000000019" }, status: 401, reason: introspection.ReasonInvalidPatient},
		{name: "dropped leading zeros", edit: func(a map[string]any) { a["patient"] = nationalIDs + "|18" }, status: 401, reason: introspection.ReasonInvalidPatient},
		{name: "https system", edit: func(a map[string]any) {
			a["patient"] = "https://fhir.health.gov.il/identifier/il-national-id|000000018"
		}, status: 401, reason: "patient_system_not_accepted"},
		{name: "passport system not configured", edit: func(a map[string]any) { a["patient"] = "http://example.org/passport|AB123" }, status: 401, reason: "patient_system_not_accepted"},
		{name: "malformed baskets", edit: func(a map[string]any) { a["baskets"] = "laboratoryTests" }, status: 401, reason: introspection.ReasonInvalidBaskets},
		{name: "hex thumbprint", edit: func(a map[string]any) { a["cnf"] = map[string]any{"x5t#S256": strings.Repeat("ab", 32)} }, status: 401, reason: introspection.ReasonInvalidConfirmation},
		{name: "nbf in the future", edit: func(a map[string]any) { a["nbf"] = time.Now().Add(time.Hour).Unix() }, status: 401, reason: "not_yet_valid"},
		{name: "no consent", edit: func(a map[string]any) { delete(a, "fhirContext") }, status: 401, reason: "no_consent"},
		{name: "no consent, require_consent off", edit: func(a map[string]any) { delete(a, "fhirContext") },
			config: func(c *PCMConfig) { c.RequireConsent = off() }, status: 200, reason: "allowed"},
		{name: "no cnf", edit: func(a map[string]any) { delete(a, "cnf") }, status: 401, reason: "unbound_token"},
		{name: "no cnf, cnf_required off", edit: func(a map[string]any) { delete(a, "cnf") },
			config: func(c *PCMConfig) { c.CNFRequired = off() }, status: 200, reason: "allowed"},
		{name: "other organization", edit: func(a map[string]any) { a["sp_organization_id"] = "org-sp-other" }, status: 403, reason: "organization_mismatch"},
		{name: "no organization", edit: func(a map[string]any) { delete(a, "organization_id") }, status: 403, reason: "organization_mismatch"},
		{name: "other organization, check off", edit: func(a map[string]any) { a["organization_id"] = "org-sp-other" },
			config: func(c *PCMConfig) { c.OrganizationCheck = off() }, status: 200, reason: "allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGateFixture(t, func(p *PEP) {
				if tt.config != nil {
					tt.config(p.PCM)
				}
			})
			f.pcm.set("t", activeAnswer(f.caller, time.Now(), tt.edit))
			w := f.serve(f.request("GET", "/R4/Observation", f.caller, "t"))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			outcome := "allow"
			if tt.status != 200 {
				outcome = "deny"
				if f.reached != nil || len(f.fhir.received()) != 0 {
					t.Fatalf("refused token reached the upstream (patient lookup?): %v", f.fhir.received())
				}
			}
			if got := testutil.ToFloat64(f.pep.metrics.decisions.WithLabelValues(outcome, tt.reason)); got != 1 {
				t.Fatalf("decisions{%s,%s} = %v", outcome, tt.reason, got)
			}
			if tt.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			if strings.Contains(w.Body.String(), "000000019") {
				t.Fatal("the answer repeats the national id")
			}
		})
	}
}

// TestBasketsNarrowTheScopes: with a baskets claim, only buckets that both
// a scope and a basket grant leave.
func TestBasketsNarrowTheScopes(t *testing.T) {
	const buckets = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	scope := "patient/Observation.rs?_security=" + buckets + "|LaboratoryTests," + buckets + "|imaging"
	tests := []struct {
		name    string
		baskets any
		want    []string
	}{
		{name: "no baskets claim", want: []string{"Observation/obs-imaging", "Observation/obs-lab"}},
		{name: "baskets narrower than the scope", baskets: []any{"laboratoryTests"}, want: []string{"Observation/obs-lab"}},
		{name: "baskets as objects", baskets: []any{map[string]any{"code": "IMAGING", "system": "http://fhir.health.gov.il/cs/hdp-information-buckets"}},
			want: []string{"Observation/obs-imaging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGateFixture(t, func(p *PEP) { p.MaxResponseBytes = 1 << 20 })
			f.pcm.set("t", activeAnswer(f.caller, time.Now(), func(a map[string]any) {
				a["scope"] = scope
				if tt.baskets != nil {
					a["baskets"] = tt.baskets
				}
			}))
			w := f.serve(f.request("GET", "/R4/Observation", f.caller, "t"))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := entryIDs(t, w.Body.Bytes())
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("entries %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClaimSettingsCaddyfile(t *testing.T) {
	tests := []struct {
		input   string
		want    PCMConfig
		wantErr string
	}{
		{input: "pcm {\n}", want: PCMConfig{}},
		{input: "pcm {\nrequire_consent off\ncnf_required off\norganization_check off\npatient_systems http://a http://b\n}", want: PCMConfig{
			RequireConsent: new(bool), CNFRequired: new(bool), OrganizationCheck: new(bool), PatientSystems: []string{"http://a", "http://b"},
		}},
		{input: "pcm {\nrequire_consent on\n}", want: PCMConfig{RequireConsent: ptr(true)}},
		{input: "pcm {\nrequire_consent yes\n}", wantErr: "want on or off"},
		{input: "pcm {\ncnf_required\n}", wantErr: "argument"},
		{input: "pcm {\norganization_check off off\n}", wantErr: "argument"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.input)
			d.Next()
			var c PCMConfig
			_, err := c.unmarshalCaddyfile(d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(c)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
	for _, bad := range []string{"http://a|b", "http://a,http://b", "passport", ""} {
		if err := (&PCMConfig{PatientSystems: []string{bad}}).checkClaimSettings(); err == nil {
			t.Fatalf("patient system %q accepted", bad)
		}
	}
	if err := (&PCMConfig{PatientSystems: []string{introspection.NationalIDSystem, "http://example.org/passport", "urn:oid:2.16.840.1.113883.4.330.376"}}).checkClaimSettings(); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestClaimExpectations(t *testing.T) {
	var nilConfig *PCMConfig
	if e := nilConfig.claimExpectations(introspection.Expectations{}); e.ConsentOptional || e.CNFOptional || e.PatientSystems != nil {
		t.Fatalf("defaults not strict: %+v", e)
	}
	if e := (&PCMConfig{}).claimExpectations(introspection.Expectations{}); e.ConsentOptional || e.CNFOptional {
		t.Fatalf("defaults not strict: %+v", e)
	}
	on, off := ptr(true), ptr(false)
	e := (&PCMConfig{RequireConsent: off, CNFRequired: on, PatientSystems: []string{"x"}}).claimExpectations(introspection.Expectations{Issuer: "i"})
	if !e.ConsentOptional || e.CNFOptional || e.Issuer != "i" || !slices.Equal(e.PatientSystems, []string{"x"}) {
		t.Fatalf("%+v", e)
	}
}

func TestBasketConversions(t *testing.T) {
	if policyBaskets(nil) != nil || auditBaskets(nil) != nil {
		t.Fatal("no claim must stay nil (input.baskets absent)")
	}
	if b := policyBaskets([]introspection.Basket{}); b == nil || len(b) != 0 {
		t.Fatal("an empty claim must stay empty, not absent")
	}
	in := []introspection.Basket{{System: "s", Code: "c", HistoricalDepth: "2024-01-01"}}
	if p := policyBaskets(in); p[0].System != "s" || p[0].Code != "c" || p[0].HistoricalDepth != "2024-01-01" {
		t.Fatalf("%+v", p)
	}
	if a := auditBaskets(in); a[0].String() != "s|c;historical_depth=2024-01-01" {
		t.Fatalf("%+v", a)
	}
}

// TestExplainClaimError: fhir-pep policy explain reports an unusable claim
// as the handler answers it, with the claim's own reason.
func TestExplainClaimError(t *testing.T) {
	claims := `{"active":true,"scope":"patient/Observation.rs","patient":"000000019","aud":"a","iss":"i","exp":4102444800}`
	out, err := explainRequest(context.Background(), explainArgs{claims: []byte(claims), request: "GET /Observation"})
	if err != nil || !strings.Contains(out, "status 401, reason "+introspection.ReasonInvalidPatient) {
		t.Fatalf("explain: %q, %v", out, err)
	}
	if strings.Contains(out, "000000019") {
		t.Fatal("explain prints the national id")
	}
}
