package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/patient"
	"github.com/hdp-il/fhir-pep/policy"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "policy",
		Usage: "test <dir> [-v] | explain --claims <file> --request '<METHOD> <path?query>' [--patient-ids a,b] [--policy <dir>] [--issuer <iss>] [--resource <url>] [--cert <pem>] [--at <time>]",
		Short: "Tests and explains fhir-pep Rego policies",
		Long: `
Tools for security teams who edit the Rego policies.

"policy test <dir>" runs every test_ rule in the *_test.rego files under
<dir> with OPA's test runner, as "go test ./policies/" does, and exits
non-zero when one fails.

"policy explain" shows what the PEP would do with one request, offline:
it takes an introspection response (JSON, as PCM returns it), a request
line such as 'GET /Observation?category=laboratory' (relative to the FHIR
base) and the patient's upstream Patient ids, then prints the policy
decision, its reasons and obligations, and the narrowed upstream
request(s) the PEP would send. Nothing is sent anywhere.

The token is checked first, exactly as the handler checks it: an inactive,
expired, not yet valid or unbound token is a 401 here too. iss and aud are
checked against --issuer and --resource (default: the token's own, so only
the other checks apply), the certificate binding against --cert (default:
the certificate the token is bound to), the time against --at (default:
now), with the handler's default clock skew.
`,
		CobraFunc: func(cmd *cobra.Command) {
			test := &cobra.Command{
				Use:   "test <dir>",
				Short: "Runs the Rego policy tests in <dir>",
				Args:  cobra.ExactArgs(1),
				RunE:  caddycmd.WrapCommandFuncForCobra(cmdPolicyTest),
			}
			test.Flags().BoolP("verbose", "v", false, "print every test")
			explain := &cobra.Command{
				Use:   "explain --claims <file> --request '<METHOD> <path?query>'",
				Short: "Prints the decision and the narrowed upstream request for one request",
				Args:  cobra.NoArgs,
				RunE:  caddycmd.WrapCommandFuncForCobra(cmdPolicyExplain),
			}
			explain.Flags().String("claims", "", "file with the introspection response JSON (required)")
			explain.Flags().String("request", "", "request line relative to the FHIR base, e.g. 'GET /Observation?code=x' (required)")
			explain.Flags().String("patient-ids", "", "comma-separated upstream Patient ids of the token's patient (empty: no data here)")
			explain.Flags().String("policy", "", "policy directory (default: the built-in policies)")
			explain.Flags().String("member-id", "org-sp-explain", "NTN member id of the caller")
			explain.Flags().String("issuer", "", "PCM issuer the PEP expects (default: the token's iss)")
			explain.Flags().String("resource", "", "this data source's resource identifier (default: the token's first aud)")
			explain.Flags().String("cert", "", "PEM file of the client certificate presenting the token (default: the one it is bound to)")
			explain.Flags().String("at", "", "the time of the request, RFC 3339 (default: now)")
			_ = explain.MarkFlagRequired("claims")
			_ = explain.MarkFlagRequired("request")
			cmd.AddCommand(test, explain)
		},
	})
}

// policyCommandOutput is where the policy commands print; tests replace it.
var policyCommandOutput io.Writer = os.Stdout

func cmdPolicyTest(fl caddycmd.Flags) (int, error) {
	passed, failed, err := policy.RunTestsDir(context.Background(), fl.Arg(0), policyCommandOutput, fl.Bool("verbose"))
	if err != nil {
		return 1, err
	}
	_, _ = fmt.Fprintf(policyCommandOutput, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1, fmt.Errorf("%d policy tests failed", failed)
	}
	return 0, nil
}

func cmdPolicyExplain(fl caddycmd.Flags) (int, error) {
	claimsJSON, err := os.ReadFile(fl.String("claims"))
	if err != nil {
		return 2, fmt.Errorf("--claims: %w", err)
	}
	var ids []string
	if s := fl.String("patient-ids"); s != "" {
		ids = strings.Split(s, ",")
	}
	a := explainArgs{
		claims: claimsJSON, request: fl.String("request"), patientIDs: ids,
		policyDir: fl.String("policy"), memberID: fl.String("member-id"),
		issuer: fl.String("issuer"), resource: fl.String("resource"),
	}
	if f := fl.String("cert"); f != "" {
		if a.thumbprint, err = certificateThumbprint(f); err != nil {
			return 2, fmt.Errorf("--cert: %w", err)
		}
	}
	if at := fl.String("at"); at != "" {
		if a.at, err = time.Parse(time.RFC3339, at); err != nil {
			return 2, fmt.Errorf("--at: %w", err)
		}
	}
	out, err := explainRequest(context.Background(), a)
	if err != nil {
		return 1, err
	}
	_, _ = io.WriteString(policyCommandOutput, out)
	return 0, nil
}

type explainArgs struct {
	claims     []byte
	request    string
	patientIDs []string
	policyDir  string
	memberID   string
	// The token checks' expectations; empty means the token's own values
	// (issuer, resource, the certificate it is bound to) and now.
	issuer, resource, thumbprint string
	at                           time.Time
}

// certificateThumbprint is the x5t#S256 of the first certificate in a PEM
// file, as the handler computes it for the connection's certificate.
func certificateThumbprint(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return "", errors.New("no CERTIFICATE in the file")
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return "", err
			}
			return introspection.Thumbprint(block.Bytes), nil
		}
	}
}

// checkToken applies the handler's token checks (introspection.Validate,
// with the handler's default clock skew) to the claims. It returns the
// 401 reason the handler would give, or "" when the token passes, and a
// line describing what was checked.
func checkToken(claims *introspection.Claims, a explainArgs) (reason, checked string) {
	exp := introspection.Expectations{
		Issuer: a.issuer, Resource: a.resource, Thumbprint: a.thumbprint,
		Now: a.at, Skew: time.Duration(defaultClockSkew),
	}
	if exp.Now.IsZero() {
		exp.Now = time.Now()
	}
	if exp.Issuer == "" {
		exp.Issuer = claims.Issuer
	}
	if exp.Resource == "" && len(claims.Audience) > 0 {
		exp.Resource = claims.Audience[0]
	}
	certificate := "--cert"
	if exp.Thumbprint == "" {
		// The token presented by the certificate it names; a token that
		// names none is checked against no certificate in particular, so
		// that a required binding fails as unbound, as in the handler.
		exp.Thumbprint, certificate = claims.Confirmation.X5tS256, "the one the token is bound to"
		if exp.Thumbprint == "" {
			exp.Thumbprint, certificate = "(none given)", "none given"
		}
	}
	checked = fmt.Sprintf("token checks at %s (clock skew %s): iss %q, aud %q, certificate: %s",
		exp.Now.UTC().Format(time.RFC3339), exp.Skew, exp.Issuer, exp.Resource, certificate)
	if err := introspection.Validate(claims, exp); err != nil {
		var ve *introspection.ValidationError
		if errors.As(err, &ve) {
			return ve.Reason, checked
		}
		return "invalid_token", checked
	}
	return "", checked
}

// explainRequest runs the handler's own decide and execute steps against a
// recording upstream that answers every call with an empty searchset, so
// what it prints is exactly what the handler would do.
func explainRequest(ctx context.Context, a explainArgs) (string, error) {
	claims, err := introspection.DecodeClaims(a.claims)
	if d, ok := claimDenial(err); ok {
		// The handler answers such a token 401 with the claim's reason.
		return fmt.Sprintf("decision: DENY (status 401, reason %s: %v)\n", d.reason, err), nil
	}
	if errors.Is(err, introspection.ErrIncompleteClaims) {
		// The handler answers such a token 401 (incomplete_claims).
		return fmt.Sprintf("decision: DENY (status 401, reason incomplete_claims: %v)\n", err), nil
	}
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	reason, checked := checkToken(claims, a)
	if reason != "" {
		return fmt.Sprintf("%s\ndecision: DENY (status 401, reason %s)\n", checked, reason), nil
	}
	method, target, ok := strings.Cut(strings.TrimSpace(a.request), " ")
	if !ok || method == "" || !strings.HasPrefix(target, "/") {
		return "", errors.New(`--request must look like 'GET /Observation?code=x'`)
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("--request: %w", err)
	}
	p := &PEP{
		Resource: "https://pep.invalid/fhir", UpstreamBase: "https://upstream.invalid/fhir",
		Policy: &PolicyConfig{Dir: a.policyDir}, MaxRequestBytes: defaultMaxRequestBytes,
		logger: zap.NewNop(),
	}
	p.PublicBase = p.Resource
	if p.metrics, err = newHandlerMetrics(nopRegisterer{}); err != nil {
		return "", err
	}
	if err := p.provisionPolicy(); err != nil {
		return "", err
	}
	p.now = time.Now
	p.MaxResponseBytes = 1 << 20
	p.resolver = patient.NewResolver(patient.Config{})
	var calls []string
	fetch := func(_ context.Context, relPath, rawQuery, form string) (*capture, error) {
		c := newCapture(p.MaxResponseBytes)
		if relPath == "/Patient/_search" && strings.Contains(form, "identifier=") {
			// The patient lookup: answer with the ids given on the command
			// line, and keep the national id off the screen.
			calls = append(calls, "POST /Patient/_search identifier=<the token's patient>  (patient lookup, cached)")
			c.header.Set("Content-Type", "application/fhir+json")
			_, _ = c.Write(patientBundle(claims.PatientSystem, claims.PatientValue, a.patientIDs))
			return c, nil
		}
		call := "GET " + relPath
		if rawQuery != "" {
			call += "?" + rawQuery
		}
		calls = append(calls, call)
		c.header.Set("Content-Type", "application/fhir+json")
		_, _ = c.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[]}`))
		return c, nil
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return "", err
	}
	subj := &Subject{Claims: claims, MemberID: a.memberID}
	req, entries, err := p.parseFHIR(r)
	var pl *plan
	if err == nil {
		pl, err = p.decide(r, fetch, subj, req, entries)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s: passed\n", checked)
	fmt.Fprintf(&b, "policy version: %s\n", p.engine.Version())
	if err != nil {
		d := asDenial(err)
		fmt.Fprintf(&b, "decision: DENY (status %d, reason %s)\n", d.status, d.reason)
		writeCalls(&b, calls)
		return b.String(), nil
	}
	fmt.Fprintf(&b, "decision: ALLOW\n")
	ob, _ := json.MarshalIndent(pl.decision.Obligations, "", "  ")
	fmt.Fprintf(&b, "obligations:\n%s\n", ob)
	res, err := p.execute(ctx, fetch, pl)
	if err != nil {
		res = p.answer(asDenial(err))
	}
	writeCalls(&b, calls)
	fmt.Fprintf(&b, "with an empty upstream the client would get: %d\n", res.status)
	return b.String(), nil
}

func writeCalls(b *strings.Builder, calls []string) {
	fmt.Fprintf(b, "upstream requests:\n")
	if len(calls) == 0 {
		fmt.Fprintf(b, "  (none)\n")
	}
	for _, c := range calls {
		fmt.Fprintf(b, "  %s\n", c)
	}
}

// patientBundle is a searchset of Patients carrying the identifier.
func patientBundle(system, value string, ids []string) []byte {
	type ident struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	type res struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Identifier   []ident `json:"identifier"`
	}
	type entry struct {
		Resource res `json:"resource"`
	}
	b := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: "searchset", Entry: []entry{}}
	for _, id := range ids {
		b.Entry = append(b.Entry, entry{Resource: res{ResourceType: "Patient", ID: id, Identifier: []ident{{system, value}}}})
	}
	out, _ := json.Marshal(b)
	return out
}
