package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testClientID+`","sub":"`+testClientID+`"}`)) + "."
	hmacSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hmacAssertion, err := jwt.Signed(hmacSigner).Claims(e.assertionClaims()).Serialize()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		client    string
		form      func() url.Values
		method    string
		wantCode  int
		wantError string
	}{
		{
			name:     "valid private_key_jwt",
			client:   "hmo-b",
			form:     func() url.Values { return tokenForm(e.sign("hmo-b", e.assertionClaims())) },
			wantCode: http.StatusOK,
		},
		{
			name:   "client_id in form matches",
			client: "hmo-b",
			form: func() url.Values {
				f := tokenForm(e.sign("hmo-b", e.assertionClaims()))
				f.Set("client_id", testClientID)
				return f
			},
			wantCode: http.StatusOK,
		},
		{
			name:   "client_id in form differs",
			client: "hmo-b",
			form: func() url.Values {
				f := tokenForm(e.sign("hmo-b", e.assertionClaims()))
				f.Set("client_id", "http://pcm.fhir.health.gov.il/organization/1")
				return f
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "wrong iss",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Issuer = "someone-else"
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "wrong sub",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Subject = "someone-else"
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "wrong aud",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Audience = jwt.Audience{"https://pcm.example/other"}
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "aud list containing the token URL",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Audience = jwt.Audience{"https://pcm.example/other", e.sim.cfg.tokenURL}
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusOK,
		},
		{
			name:   "expired",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Expiry = jwt.NewNumericDate(e.clock.now().Add(-time.Second))
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "no exp",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Expiry = nil
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "lifetime too long",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.Expiry = jwt.NewNumericDate(e.clock.now().Add(time.Hour))
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "iat in the future",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.IssuedAt = jwt.NewNumericDate(e.clock.now().Add(2 * time.Minute))
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "no jti",
			client: "hmo-b",
			form: func() url.Values {
				c := e.assertionClaims()
				c.ID = ""
				return tokenForm(e.sign("hmo-b", c))
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:     "signed by a key other than the mTLS certificate's",
			client:   "hmo-b",
			form:     func() url.Values { return tokenForm(e.sign("hospital-a", e.assertionClaims())) },
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:     "another member's certificate cannot act as the data source",
			client:   "hospital-a",
			form:     func() url.Values { return tokenForm(e.sign("hospital-a", e.assertionClaims())) },
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:     "alg none",
			client:   "hmo-b",
			form:     func() url.Values { return tokenForm(unsigned) },
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:     "HMAC-signed",
			client:   "hmo-b",
			form:     func() url.Values { return tokenForm(hmacAssertion) },
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "wrong grant type",
			client: "hmo-b",
			form: func() url.Values {
				f := tokenForm(e.sign("hmo-b", e.assertionClaims()))
				f.Set("grant_type", "authorization_code")
				return f
			},
			wantCode: http.StatusBadRequest, wantError: "unsupported_grant_type",
		},
		{
			name:   "wrong assertion type",
			client: "hmo-b",
			form: func() url.Values {
				f := tokenForm(e.sign("hmo-b", e.assertionClaims()))
				f.Set("client_assertion_type", "urn:other")
				return f
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:   "no assertion",
			client: "hmo-b",
			form: func() url.Values {
				f := tokenForm("")
				f.Del("client_assertion")
				return f
			},
			wantCode: http.StatusUnauthorized, wantError: "invalid_client",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, e.client(tc.client), e.public.URL+"/token", tc.form(), "")
			if status != tc.wantCode {
				t.Fatalf("status = %d, body %v; want %d", status, body, tc.wantCode)
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError || len(body) != 1 {
					t.Fatalf("body = %v, want error %q", body, tc.wantError)
				}
				return
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(30) || body["scope"] != "introspection" {
				t.Fatalf("body = %v", body)
			}
			if tok, _ := body["access_token"].(string); len(tok) < 20 {
				t.Fatalf("access_token %q too short", tok)
			}
		})
	}
}

func TestTokenRejectsReplayedAssertion(t *testing.T) {
	e := newEnv(t)
	assertion := e.sign("hmo-b", e.assertionClaims())
	c := e.client("hmo-b")
	if status, body := post(t, c, e.public.URL+"/token", tokenForm(assertion), ""); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	if status, body := post(t, c, e.public.URL+"/token", tokenForm(assertion), ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("replay: %d %v", status, body)
	}
}

func TestTokenDefaultsScopeAndRejectsGET(t *testing.T) {
	e := newEnv(t)
	f := tokenForm(e.sign("hmo-b", e.assertionClaims()))
	f.Del("scope")
	status, body := post(t, e.client("hmo-b"), e.public.URL+"/token", f, "")
	if status != http.StatusOK || body["scope"] != defaultPCMScope {
		t.Fatalf("%d %v", status, body)
	}
	req, err := http.NewRequest(http.MethodGet, e.public.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, e.client("hmo-b"), req); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET status = %d", status)
	}
}

func TestTLSRequiresMemberCertificate(t *testing.T) {
	e := newEnv(t)
	for _, client := range []string{"unknown", "hospital-a-expired", ""} {
		t.Run("client "+client, func(t *testing.T) {
			_, err := e.client(client).PostForm(e.public.URL+"/token", tokenForm("x"))
			if err == nil {
				t.Fatal("request succeeded without a member certificate")
			}
		})
	}
}
