package trust

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// payloadFixture returns a valid manifest payload as a generic map, so
// that table cases can break exactly one thing each.
func payloadFixture(t *testing.T) (map[string]any, *ntntest.Issuer, *ntntest.Issuer) {
	t.Helper()
	pinned := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "member-a client"})
	ca := ntntest.NewRootCA(t, "member-b CA", ntntest.ECDSAP256)
	m := map[string]any{
		"version":    float64(42),
		"issued_at":  "2026-11-22T10:00:00Z",
		"expires_at": "2026-11-23T10:00:00Z",
		"members": []any{
			map[string]any{
				"member_id": "org-a",
				"name":      "Hospital A",
				"status":    "active",
				"certificates": []any{
					map[string]any{"use": "tls", "x5c": []any{b64(pinned.Cert.Raw)}},
				},
			},
			map[string]any{
				"member_id": "org-b",
				"name":      "קופת חולים ב",
				"status":    "suspended",
				"certificates": []any{
					map[string]any{"use": "ca", "x5c": []any{b64(ca.Cert.Raw)}},
				},
			},
		},
	}
	return m, pinned, ca
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

func member(m map[string]any, i int) map[string]any {
	return m["members"].([]any)[i].(map[string]any)
}

func cert0(m map[string]any, i int) map[string]any {
	return member(m, i)["certificates"].([]any)[0].(map[string]any)
}

func TestParseManifestPayloadValid(t *testing.T) {
	m, pinned, ca := payloadFixture(t)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifestPayload(data)
	if err != nil {
		t.Fatalf("ParseManifestPayload: %v", err)
	}
	if got.Version != 42 {
		t.Errorf("Version = %d, want 42", got.Version)
	}
	if want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC); !got.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want)
	}
	if len(got.Members) != 2 {
		t.Fatalf("got %d members, want 2", len(got.Members))
	}
	a, b := got.Members[0], got.Members[1]
	if a.ID != "org-a" || a.Status != StatusActive || a.Certificates[0].Use != UseTLS || !a.Certificates[0].Certificate.Equal(pinned.Cert) {
		t.Errorf("member a = %+v", a)
	}
	if b.ID != "org-b" || b.Name != "קופת חולים ב" || b.Status != StatusSuspended || b.Certificates[0].Use != UseCA || !b.Certificates[0].Certificate.Equal(ca.Cert) {
		t.Errorf("member b = %+v", b)
	}
}

func TestParseManifestPayloadRejects(t *testing.T) {
	notCA := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "leaf"})
	cases := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"unknown top-level field", func(m map[string]any) { m["signature"] = "x" }},
		{"unknown member field", func(m map[string]any) { member(m, 0)["role"] = "admin" }},
		{"unknown certificate field", func(m map[string]any) { cert0(m, 0)["kid"] = "1" }},
		{"version missing", func(m map[string]any) { delete(m, "version") }},
		{"version null", func(m map[string]any) { m["version"] = nil }},
		{"version zero", func(m map[string]any) { m["version"] = float64(0) }},
		{"version negative", func(m map[string]any) { m["version"] = float64(-3) }},
		{"version fractional", func(m map[string]any) { m["version"] = 1.5 }},
		{"version string", func(m map[string]any) { m["version"] = "42" }},
		{"version array", func(m map[string]any) { m["version"] = []any{float64(1)} }},
		{"issued_at missing", func(m map[string]any) { delete(m, "issued_at") }},
		{"issued_at not RFC 3339", func(m map[string]any) { m["issued_at"] = "22/11/2026" }},
		{"issued_at number", func(m map[string]any) { m["issued_at"] = float64(1763805600) }},
		{"expires_at missing", func(m map[string]any) { delete(m, "expires_at") }},
		{"expires_at equals issued_at", func(m map[string]any) { m["expires_at"] = m["issued_at"] }},
		{"expires_at before issued_at", func(m map[string]any) { m["expires_at"] = "2026-11-21T10:00:00Z" }},
		{"members missing", func(m map[string]any) { delete(m, "members") }},
		{"members null", func(m map[string]any) { m["members"] = nil }},
		{"members object", func(m map[string]any) { m["members"] = map[string]any{} }},
		{"member null", func(m map[string]any) { m["members"] = []any{nil} }},
		{"member string", func(m map[string]any) { m["members"] = []any{"org-a"} }},
		{"member_id missing", func(m map[string]any) { delete(member(m, 0), "member_id") }},
		{"member_id empty", func(m map[string]any) { member(m, 0)["member_id"] = "" }},
		{"member_id number", func(m map[string]any) { member(m, 0)["member_id"] = float64(7) }},
		{"member_id control character", func(m map[string]any) { member(m, 0)["member_id"] = "org\na" }},
		{"member_id too long", func(m map[string]any) { member(m, 0)["member_id"] = strings.Repeat("a", 257) }},
		{"duplicate member_id", func(m map[string]any) { member(m, 1)["member_id"] = "org-a" }},
		{"name missing", func(m map[string]any) { delete(member(m, 0), "name") }},
		{"status missing", func(m map[string]any) { delete(member(m, 0), "status") }},
		{"status unknown", func(m map[string]any) { member(m, 0)["status"] = "probation" }},
		{"status wrong case", func(m map[string]any) { member(m, 0)["status"] = "Active" }},
		{"status boolean", func(m map[string]any) { member(m, 0)["status"] = true }},
		{"certificates missing", func(m map[string]any) { delete(member(m, 0), "certificates") }},
		{"certificates null", func(m map[string]any) { member(m, 0)["certificates"] = nil }},
		{"use missing", func(m map[string]any) { delete(cert0(m, 0), "use") }},
		{"use unknown", func(m map[string]any) { cert0(m, 0)["use"] = "signing" }},
		{"x5c missing", func(m map[string]any) { delete(cert0(m, 0), "x5c") }},
		{"x5c empty", func(m map[string]any) { cert0(m, 0)["x5c"] = []any{} }},
		{"x5c string instead of array", func(m map[string]any) { cert0(m, 0)["x5c"] = b64(notCA.Cert.Raw) }},
		{"x5c base64url", func(m map[string]any) {
			cert0(m, 0)["x5c"] = []any{base64.RawURLEncoding.EncodeToString(notCA.Cert.Raw)}
		}},
		{"x5c not DER", func(m map[string]any) { cert0(m, 0)["x5c"] = []any{b64([]byte("not a certificate"))} }},
		{"x5c element object", func(m map[string]any) { cert0(m, 0)["x5c"] = []any{map[string]any{}} }},
		{"ca entry is not a CA", func(m map[string]any) { cert0(m, 1)["x5c"] = []any{b64(notCA.Cert.Raw)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := payloadFixture(t)
			tc.mutate(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseManifestPayload(data)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if r := ReasonOf(err); r != ReasonSchema {
				t.Fatalf("reason = %q, want %q (err %v)", r, ReasonSchema, err)
			}
		})
	}
}

func TestParseManifestPayloadRejectsRawJSON(t *testing.T) {
	valid := `"issued_at":"2026-11-22T10:00:00Z","expires_at":"2026-11-23T10:00:00Z","members":[]`
	cases := []struct{ name, json string }{
		{"duplicate key", `{"version":1,"version":2,` + valid + `}`},
		{"key in other case", `{"Version":1,` + valid + `}`},
		{"trailing data", `{"version":1,` + valid + `} {}`},
		{"trailing garbage", `{"version":1,` + valid + `}x`},
		{"top-level array", `[{"version":1,` + valid + `}]`},
		{"top-level null", `null`},
		{"empty", ``},
		{"truncated", `{"version":1,` + valid},
		{"duplicate key in member", `{"version":1,"issued_at":"2026-11-22T10:00:00Z","expires_at":"2026-11-23T10:00:00Z","members":[{"member_id":"a","member_id":"b","name":"n","status":"active","certificates":[]}]}`},
		{"version with exponent", `{"version":1e2,` + valid + `}`},
		{"deep nesting", `{"version":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `,` + valid + `}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseManifestPayload([]byte(tc.json))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if r := ReasonOf(err); r != ReasonSchema {
				t.Fatalf("reason = %q, want %q (err %v)", r, ReasonSchema, err)
			}
		})
	}
}

func TestParseManifestPayloadEmptyMembers(t *testing.T) {
	// An empty member list is valid: it is how NTN would revoke everyone.
	got, err := ParseManifestPayload([]byte(`{"version":7,"issued_at":"2026-11-22T10:00:00Z","expires_at":"2026-11-23T10:00:00.5+02:00","members":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 7 || len(got.Members) != 0 {
		t.Fatalf("got %+v", got)
	}
}
