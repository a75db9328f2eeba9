package main

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

func TestMintDefaults(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name                string
		req                 map[string]any
		wantPatient         string
		wantCnf             string
		wantOrg, wantClient string
	}{
		{
			name:        "member id selects its valid certificate",
			req:         map[string]any{"patient": "000000018", "scope": "patient/*.rs", "member": "org-sp-hospital-a"},
			wantPatient: nationalIDSystem + "|000000018",
			wantCnf:     e.pki.Clients["hospital-a"].Thumbprint,
			wantOrg:     "org-sp-hospital-a", wantClient: clientIDPrefix + "org-sp-hospital-a",
		},
		{
			name:        "pki.json client name",
			req:         map[string]any{"patient": "000000026", "scope": "patient/*.rs", "member": "clinic-c"},
			wantPatient: nationalIDSystem + "|000000026",
			wantCnf:     e.pki.Clients["clinic-c"].Thumbprint,
			wantOrg:     "org-sp-clinic-c", wantClient: clientIDPrefix + "org-sp-clinic-c",
		},
		{
			name:        "explicit thumbprint of a certificate outside the NTN",
			req:         map[string]any{"patient": "urn:example|abc", "scope": "patient/*.rs", "x5t#S256": e.pki.Clients["unknown"].Thumbprint},
			wantPatient: "urn:example|abc",
			wantCnf:     e.pki.Clients["unknown"].Thumbprint,
			wantOrg:     "org-sp-unknown", wantClient: clientIDPrefix + "org-sp-unknown",
		},
		{
			name:        "explicit thumbprint of no demo certificate",
			req:         map[string]any{"patient": "000000034", "scope": "patient/*.rs", "x5t#S256": "abc", "client_id": "c", "aud": "https://other/R4"},
			wantPatient: nationalIDSystem + "|000000034",
			wantCnf:     "abc",
			wantOrg:     "unknown-organization", wantClient: "c",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := e.mint(tc.req)
			in := m.Introspection
			if in.Patient != tc.wantPatient || in.Cnf["x5t#S256"] != tc.wantCnf || in.OrganizationID != tc.wantOrg || in.ClientID != tc.wantClient {
				t.Fatalf("introspection = %+v", in)
			}
			if m.Token == "" || m.ID == "" || m.ID == m.Token || in.Jti != m.ID {
				t.Fatalf("token %q id %q jti %q", m.Token, m.ID, in.Jti)
			}
			if in.Exp-in.Iat != 3600 {
				t.Fatalf("default ttl = %ds", in.Exp-in.Iat)
			}
		})
	}
}

func TestAdminRejectsBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body string
		wantCode                 int
	}{
		{name: "mint without patient", method: http.MethodPost, path: "/admin/tokens", body: `{"scope":"patient/*.rs","member":"clinic-c"}`, wantCode: http.StatusBadRequest},
		{name: "mint with short national id", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"12345","scope":"patient/*.rs","member":"clinic-c"}`, wantCode: http.StatusBadRequest},
		{name: "mint with empty system", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"|123","scope":"patient/*.rs","member":"clinic-c"}`, wantCode: http.StatusBadRequest},
		{name: "mint without scope", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"  ","member":"clinic-c"}`, wantCode: http.StatusBadRequest},
		{name: "mint without member", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs"}`, wantCode: http.StatusBadRequest},
		{name: "mint for unknown member", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs","member":"org-nobody"}`, wantCode: http.StatusBadRequest},
		{name: "mint with bad ttl", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs","member":"clinic-c","ttl":"-5m"}`, wantCode: http.StatusBadRequest},
		{name: "mint with unknown omit field", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs","member":"clinic-c","omit":["active"]}`, wantCode: http.StatusBadRequest},
		{name: "mint with unknown JSON field", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs","member":"clinic-c","scopes":"x"}`, wantCode: http.StatusBadRequest},
		{name: "mint with trailing data", method: http.MethodPost, path: "/admin/tokens", body: `{"patient":"000000018","scope":"patient/*.rs","member":"clinic-c"} {}`, wantCode: http.StatusBadRequest},
		{name: "revoke unknown", method: http.MethodPost, path: "/admin/tokens/nope/revoke", wantCode: http.StatusNotFound},
		{name: "outage without on", method: http.MethodPost, path: "/admin/outage", body: `{}`, wantCode: http.StatusBadRequest},
		{name: "outage with a string", method: http.MethodPost, path: "/admin/outage", body: `{"on":"yes"}`, wantCode: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.admin.URL+tc.path, bytes.NewBufferString(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			status, body := do(t, http.DefaultClient, req)
			if status != tc.wantCode || body["error"] == "" {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

func FuzzVerifyAssertion(f *testing.F) {
	e := newEnv(f)
	f.Add(e.sign("hospital-a", e.assertionClaims()))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	cert, err := demopki.LoadCertificate(e.pki.Clients["hmo-b"].Cert)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if err := e.sim.verifyAssertion(raw, cert); err == nil {
			t.Fatalf("accepted an assertion not signed by the data source: %q", raw)
		}
	})
}

func FuzzGrantFrom(f *testing.F) {
	e := newEnv(f)
	f.Add("000000018", "patient/*.rs", "clinic-c", "1h")
	f.Add("a|b", " ", "org-sp-hospital-a", "-1s")
	f.Add("|", "x", "", "720h1s")
	f.Fuzz(func(t *testing.T, patient, scope, member, ttl string) {
		g, err := e.sim.grantFrom(mintRequest{Patient: patient, Scope: scope, Member: member, TTL: ttl})
		if err != nil {
			return
		}
		if g.scope == "" || g.thumbprint == "" || g.patient == "" || !g.expiresAt.After(g.issuedAt) || g.expiresAt.Sub(g.issuedAt) > maxGrantTTL {
			t.Fatalf("accepted an invalid grant: %+v", g)
		}
	})
}
