package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/pflag"

	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/introspection"
)

func explainClaims(t *testing.T, scope string) []byte {
	t.Helper()
	a := activeAnswer(testpki.SelfSigned(t, "explain"), time.Now(), func(a map[string]any) { a["scope"] = scope })
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPolicyExplain(t *testing.T) {
	lab := "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests"
	tests := []struct {
		name    string
		scope   string
		request string
		ids     []string
		want    []string
	}{
		{"narrowed search", lab, "GET /Observation?code=718-7", []string{"p1"}, []string{
			"decision: ALLOW", "POST /Patient/_search identifier=<the token", "GET /Observation?code=718-7&subject=Patient/p1&_security=",
		}},
		{"read the check can verify goes upstream as a plain read", lab, "GET /Observation/o1", []string{"p1"}, []string{
			"decision: ALLOW", "GET /Observation/o1\n",
		}},
		{"another patient refused", lab, "GET /Patient/p9", []string{"p1"}, []string{"decision: DENY (status 403"}},
		{"no data here", lab, "GET /Observation", nil, []string{"decision: ALLOW", "\"empty_result\": true"}},
		{"type not granted", lab, "GET /Condition", []string{"p1"}, []string{"decision: DENY (status 403, reason scope_missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := explainRequest(context.Background(), explainArgs{
				claims: explainClaims(t, tt.scope), request: tt.request, patientIDs: tt.ids, memberID: "m",
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "000000018") {
				t.Fatalf("explain printed the national id:\n%s", out)
			}
		})
	}
	if _, err := explainRequest(context.Background(), explainArgs{claims: []byte(`{}`), request: "GET /x"}); err == nil {
		t.Fatal("invalid claims accepted")
	}
	if _, err := explainRequest(context.Background(), explainArgs{claims: explainClaims(t, lab), request: "Observation"}); err == nil {
		t.Fatal("malformed request line accepted")
	}
}

// TestPolicyExplainTokenChecks: explain refuses the tokens the handler
// refuses, with the handler's status and reason, before any policy runs.
func TestPolicyExplainTokenChecks(t *testing.T) {
	now := time.Now()
	caller := testpki.SelfSigned(t, "explain")
	other := testpki.SelfSigned(t, "other")
	otherPEM := filepath.Join(t.TempDir(), "other.crt")
	if err := os.WriteFile(otherPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	otherThumbprint, err := certificateThumbprint(otherPEM)
	if err != nil {
		t.Fatal(err)
	}
	if otherThumbprint != introspection.Thumbprint(other.Cert.Raw) {
		t.Fatalf("certificateThumbprint %q", otherThumbprint)
	}
	claims := func(edit func(map[string]any)) []byte {
		b, err := json.Marshal(activeAnswer(caller, now, edit))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		args explainArgs
		want string // "" = the token passes and the policy decides
	}{
		{"valid token", explainArgs{claims: claims(nil)}, ""},
		{"inactive", explainArgs{claims: []byte(`{"active":false}`)}, "inactive"},
		{"expired", explainArgs{claims: claims(func(a map[string]any) { a["exp"] = now.Add(-time.Hour).Unix() })}, "expired"},
		{"expired at --at", explainArgs{claims: claims(nil), at: now.Add(time.Hour)}, "expired"},
		{"within the clock skew", explainArgs{claims: claims(func(a map[string]any) { a["exp"] = now.Add(-10 * time.Second).Unix() })}, ""},
		{"issued in the future", explainArgs{claims: claims(func(a map[string]any) { a["iat"] = now.Add(time.Hour).Unix() })}, "issued_in_future"},
		{"another issuer expected", explainArgs{claims: claims(nil), issuer: "https://other.example/"}, "issuer_mismatch"},
		{"another resource expected", explainArgs{claims: claims(nil), resource: "https://other.example/fhir"}, "audience_mismatch"},
		{"presented by another certificate", explainArgs{claims: claims(nil), thumbprint: otherThumbprint}, "certificate_mismatch"},
		{"unbound token", explainArgs{claims: claims(func(a map[string]any) { delete(a, "cnf") })}, "unbound_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.args.request, tt.args.patientIDs, tt.args.memberID = "GET /Observation", []string{"p1"}, "m"
			out, err := explainRequest(context.Background(), tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if !strings.Contains(out, "passed") || !strings.Contains(out, "decision: ALLOW") {
					t.Fatalf("valid token not passed to the policy:\n%s", out)
				}
				return
			}
			if want := "decision: DENY (status 401, reason " + tt.want + ")"; !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
			if strings.Contains(out, "upstream requests") || strings.Contains(out, "ALLOW") {
				t.Fatalf("a refused token reached the policy:\n%s", out)
			}
		})
	}
}

func TestPolicyTestCommand(t *testing.T) {
	var out bytes.Buffer
	policyCommandOutput = &out
	t.Cleanup(func() { policyCommandOutput = os.Stdout })
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Bool("verbose", false, "")
	if err := fs.Parse([]string{"../policies"}); err != nil {
		t.Fatal(err)
	}
	code, err := cmdPolicyTest(caddycmd.Flags{FlagSet: fs})
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), " passed, 0 failed") {
		t.Fatalf("output %q", out.String())
	}

	// A failing test makes the command fail.
	dir := t.TempDir()
	bad := "package fhir.pep_test\n\ntest_fails if {\n\tfalse\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "bad_test.rego"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Bool("verbose", false, "")
	_ = fs.Parse([]string{dir})
	if code, err := cmdPolicyTest(caddycmd.Flags{FlagSet: fs}); err == nil || code == 0 {
		t.Fatalf("failing policy test passed: code %d", code)
	}
}
