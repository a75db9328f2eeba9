package main

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func introspectForm(token string) url.Values { return url.Values{"token": {token}} }

func TestIntrospectionActive(t *testing.T) {
	e := newEnv(t)
	minted := e.mint(map[string]any{
		"patient":               "000000026",
		"scope":                 "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests",
		"member":                "org-sp-hospital-a",
		"ttl":                   "10m",
		"consent_id":            "consent-1",
		"healthcare_service_id": "hs-1",
		"organization_id":       "77",
	})
	status, body := post(t, e.client("hmo-b"), e.public.URL+"/introspect", introspectForm(minted.Token), e.pcmToken())
	if status != http.StatusOK {
		t.Fatalf("status %d %v", status, body)
	}
	now := e.clock.now()
	want := map[string]any{
		"active":          true,
		"scope":           "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests",
		"patient":         "http://fhir.health.gov.il/identifier/il-national-id|000000026",
		"aud":             testResource,
		"iss":             testIssuer,
		"client_id":       "http://pcm.fhir.health.gov.il/organization/77",
		"organization_id": "77",
		"token_type":      "Bearer",
		"exp":             float64(now.Add(10 * time.Minute).Unix()),
		"iat":             float64(now.Unix()),
		"jti":             minted.ID,
		"intent":          "HealthcareService",
		"fhirContext": []any{
			map[string]any{"reference": "Consent/consent-1"},
			map[string]any{"reference": "HealthcareService/hs-1"},
		},
		"cnf": map[string]any{"x5t#S256": e.pki.Clients["hospital-a"].Thumbprint},
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("introspection =\n%v\nwant\n%v", body, want)
	}
}

func TestIntrospectionInactive(t *testing.T) {
	tests := []struct {
		name  string
		token func(e *env) string
	}{
		{name: "unknown token", token: func(*env) string { return "not-a-token" }},
		{name: "revoked by id", token: func(e *env) string {
			m := e.mint(map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "clinic-c"})
			if status, body := e.adminJSON(http.MethodPost, "/admin/tokens/"+m.ID+"/revoke", nil); status != http.StatusOK || body["revoked"] != true {
				t.Fatalf("revoke: %d %v", status, body)
			}
			return m.Token
		}},
		{name: "revoked by token value", token: func(e *env) string {
			m := e.mint(map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "clinic-c"})
			if status, _ := e.adminJSON(http.MethodPost, "/admin/tokens/"+m.Token+"/revoke", nil); status != http.StatusOK {
				t.Fatalf("revoke status %d", status)
			}
			return m.Token
		}},
		{name: "expired", token: func(e *env) string {
			m := e.mint(map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "clinic-c", "ttl": "1m"})
			e.clock.advance(time.Minute)
			return m.Token
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			token := tc.token(e)
			status, body := post(t, e.client("hmo-b"), e.public.URL+"/introspect", introspectForm(token), e.pcmToken())
			if status != http.StatusOK || !reflect.DeepEqual(body, map[string]any{"active": false}) {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

func TestIntrospectionRequiresPCMToken(t *testing.T) {
	e := newEnv(t)
	minted := e.mint(map[string]any{"patient": "000000034", "scope": "patient/*.rs", "member": "hospital-a"})
	pcmToken := e.pcmToken()
	tests := []struct {
		name      string
		client    string
		bearer    func() string
		form      url.Values
		wantCode  int
		wantError string
	}{
		{name: "no bearer", client: "hmo-b", bearer: func() string { return "" }, form: introspectForm(minted.Token), wantCode: http.StatusUnauthorized, wantError: "invalid_token"},
		{name: "unknown bearer", client: "hmo-b", bearer: func() string { return "forged" }, form: introspectForm(minted.Token), wantCode: http.StatusUnauthorized, wantError: "invalid_token"},
		{name: "service provider token is not a PCM token", client: "hmo-b", bearer: func() string { return minted.Token }, form: introspectForm(minted.Token), wantCode: http.StatusUnauthorized, wantError: "invalid_token"},
		{name: "PCM token bound to another certificate", client: "clinic-c", bearer: func() string { return pcmToken }, form: introspectForm(minted.Token), wantCode: http.StatusUnauthorized, wantError: "invalid_token"},
		{name: "missing token parameter", client: "hmo-b", bearer: func() string { return pcmToken }, form: url.Values{}, wantCode: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "PCM token expired after 30s", client: "hmo-b", bearer: func() string {
			e.clock.advance(30 * time.Second)
			return pcmToken
		}, form: introspectForm(minted.Token), wantCode: http.StatusUnauthorized, wantError: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, e.client(tc.client), e.public.URL+"/introspect", tc.form, tc.bearer())
			if status != tc.wantCode || body["error"] != tc.wantError {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

func TestIntrospectionOmitsRequestedFields(t *testing.T) {
	e := newEnv(t)
	minted := e.mint(map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "hospital-a", "omit": []string{"cnf", "patient", "exp"}})
	status, body := post(t, e.client("hmo-b"), e.public.URL+"/introspect", introspectForm(minted.Token), e.pcmToken())
	if status != http.StatusOK || body["active"] != true {
		t.Fatalf("%d %v", status, body)
	}
	for _, f := range []string{"cnf", "patient", "exp"} {
		if _, ok := body[f]; ok {
			t.Errorf("%s present", f)
		}
	}
	for _, f := range []string{"scope", "aud", "iss", "jti", "fhirContext"} {
		if _, ok := body[f]; !ok {
			t.Errorf("%s missing", f)
		}
	}
}

func TestOutageAndStats(t *testing.T) {
	e := newEnv(t)
	minted := e.mint(map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "hospital-a"})
	pcmToken := e.pcmToken()
	c := e.client("hmo-b")
	if status, body := post(t, c, e.public.URL+"/introspect", introspectForm(minted.Token), pcmToken); status != http.StatusOK || body["active"] != true {
		t.Fatalf("before outage: %d %v", status, body)
	}
	if status, body := post(t, c, e.public.URL+"/introspect", introspectForm("nope"), pcmToken); status != http.StatusOK || body["active"] != false {
		t.Fatalf("inactive: %d %v", status, body)
	}
	if status, body := e.adminJSON(http.MethodPost, "/admin/outage", map[string]any{"on": true}); status != http.StatusOK || body["outage"] != true {
		t.Fatalf("outage on: %d %v", status, body)
	}
	if status, body := post(t, c, e.public.URL+"/introspect", introspectForm(minted.Token), pcmToken); status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Fatalf("introspect during outage: %d %v", status, body)
	}
	if status, _ := post(t, c, e.public.URL+"/token", tokenForm(e.sign("hmo-b", e.assertionClaims())), ""); status != http.StatusServiceUnavailable {
		t.Fatalf("token during outage: %d", status)
	}
	status, stats := e.adminJSON(http.MethodGet, "/admin/stats", nil)
	want := map[string]any{
		"token_calls": float64(2), "tokens_issued": float64(1),
		"introspection_calls": float64(3), "introspection_active": float64(1), "introspection_inactive": float64(1),
		"outage": true,
	}
	if status != http.StatusOK || !reflect.DeepEqual(stats, want) {
		t.Fatalf("stats = %d %v, want %v", status, stats, want)
	}
	if status, _ := e.adminJSON(http.MethodPost, "/admin/outage", map[string]any{"on": false}); status != http.StatusOK {
		t.Fatalf("outage off: %d", status)
	}
	if status, body := post(t, c, e.public.URL+"/introspect", introspectForm(minted.Token), pcmToken); status != http.StatusOK || body["active"] != true {
		t.Fatalf("after outage: %d %v", status, body)
	}
}
