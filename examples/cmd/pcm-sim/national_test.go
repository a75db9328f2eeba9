package main

import (
	"net/http"
	"reflect"
	"testing"
)

// TestIntrospectionNationalShapes: pcm-sim mints the claim shapes of the
// national PCM on request, and the seed shape otherwise.
func TestIntrospectionNationalShapes(t *testing.T) {
	const scope = "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|laboratoryTests"
	tests := []struct {
		name  string
		mint  map[string]any
		check func(t *testing.T, e *env, body map[string]any)
	}{
		{
			name: "seed shape by default",
			mint: map[string]any{},
			check: func(t *testing.T, _ *env, body map[string]any) {
				for _, k := range []string{"consent_id", "baskets", "access_type", "sp_organization_id", "nbf"} {
					if _, ok := body[k]; ok {
						t.Errorf("%s sent without being asked for", k)
					}
				}
				if body["patient"] != nationalIDSystem+"|000000018" {
					t.Errorf("patient %v", body["patient"])
				}
			},
		},
		{
			name: "national adapter shape",
			mint: map[string]any{
				"patient_bare": true, "consent_id_claim": true, "consent_id": "PCM-CONSENT-0001", "healthcare_service_id": "hs-1",
				"baskets": []any{"laboratoryTests"}, "access_type": "continuous", "sp_organization_id": "org-sp-hospital-a",
			},
			check: func(t *testing.T, _ *env, body map[string]any) {
				want := map[string]any{
					"patient": "000000018", "consent_id": "PCM-CONSENT-0001", "baskets": []any{"laboratoryTests"},
					"access_type": "continuous", "sp_organization_id": "org-sp-hospital-a",
				}
				for k, v := range want {
					if !reflect.DeepEqual(body[k], v) {
						t.Errorf("%s = %v, want %v", k, body[k], v)
					}
				}
				if got := body["fhirContext"]; !reflect.DeepEqual(got, []any{map[string]any{"reference": "HealthcareService/hs-1"}}) {
					t.Errorf("fhirContext %v still names the consent", got)
				}
			},
		},
		{
			name: "baskets with historical depth, nbf",
			mint: map[string]any{
				"baskets": []any{map[string]any{
					"code": "laboratoryTests", "system": "http://fhir.health.gov.il/cs/hdp-information-buckets", "historical_depth": "2024-01-01",
				}},
				"nbf_after": "-1m",
			},
			check: func(t *testing.T, e *env, body map[string]any) {
				want := []any{map[string]any{
					"code": "laboratoryTests", "system": "http://fhir.health.gov.il/cs/hdp-information-buckets", "historical_depth": "2024-01-01",
				}}
				if !reflect.DeepEqual(body["baskets"], want) {
					t.Errorf("baskets %v", body["baskets"])
				}
				if body["nbf"] != float64(e.clock.now().Unix()-60) {
					t.Errorf("nbf %v", body["nbf"])
				}
			},
		},
		{
			name: "malformed baskets passed through",
			mint: map[string]any{"baskets": "laboratoryTests"},
			check: func(t *testing.T, _ *env, body map[string]any) {
				if body["baskets"] != "laboratoryTests" {
					t.Errorf("baskets %v", body["baskets"])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := map[string]any{"patient": "000000018", "scope": scope, "member": "hospital-a"}
			for k, v := range tt.mint {
				req[k] = v
			}
			minted := e.mint(req)
			status, body := post(t, e.client("hmo-b"), e.public.URL+"/introspect", introspectForm(minted.Token), e.pcmToken())
			if status != http.StatusOK || body["active"] != true {
				t.Fatalf("status %d %v", status, body)
			}
			tt.check(t, e, body)
		})
	}
}
