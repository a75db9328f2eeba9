package caddymodule

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/policies"
)

// sharedTexts are the reasons that deliberately share one client text (see
// the comments of the denials and of reasonTexts). Any other two reasons
// with the same text fail TestDenialTextsDistinct.
var sharedTexts = [][]string{
	// Without a fresh manifest nobody is trusted; the client is told no more.
	{"untrusted_certificate", "ntn_stale"},
	// Unusable upstream answers: telling them apart could describe the
	// patient's data (invalid_upstream_body).
	{"invalid_upstream_body", "upstream_not_json", "upstream_encoded_body", "upstream_unexpected_status", "upstream_not_capabilities"},
	// Both are a failure of the policy itself.
	{"policy_error", "policy_undefined"},
}

// tokenReasons are the reasons introspection gives for a token it refuses
// (ValidationError and ClaimError), without no_client_certificate (its own
// denial) and organization_mismatch (its own 403).
var tokenReasons = []string{
	introspection.ErrInactive.Reason, introspection.ErrExpired.Reason,
	introspection.ErrIssuedInFuture.Reason, introspection.ErrIssuerMismatch.Reason,
	introspection.ErrAudienceMismatch.Reason, introspection.ErrCertificateMismatch.Reason,
	introspection.ErrNotYetValid.Reason, introspection.ErrUnboundToken.Reason,
	introspection.ErrPatientSystem.Reason, introspection.ErrNoConsent.Reason,
	introspection.ReasonInvalidPatient, introspection.ReasonInvalidBaskets,
	introspection.ReasonInvalidConsent, introspection.ReasonInvalidConfirmation,
	introspection.ReasonInvalidNotBefore, introspection.ReasonInvalidClaim,
	"incomplete_claims",
}

// parserReasons are the FHIR parser's reasons and the body checks'.
var parserReasons = []string{
	fhir.ErrNonCanonicalPath.Reason, fhir.ErrUnknownResourceType.Reason, fhir.ErrInvalidID.Reason,
	fhir.ErrInvalidOperation.Reason, fhir.ErrUnsupportedRequest.Reason, fhir.ErrInvalidQuery.Reason,
	fhir.ErrInvalidParamName.Reason, fhir.ErrUnsupportedMediaType.Reason, fhir.ErrInvalidBody.Reason,
	"unreadable_body", "body_not_allowed",
}

// upstreamReasons are the reasons of PEP.badUpstream.
var upstreamReasons = []string{
	"upstream_unreachable", "upstream_error", "upstream_response_too_large",
	"invalid_upstream_body", "upstream_not_json", "upstream_encoded_body",
	"upstream_unexpected_status", "upstream_not_capabilities",
}

// policyReasons reads every deny reason of the default policies, so a
// reason added there without a text of its own fails the test.
func policyReasons(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`deny contains "([a-z_]+)"`)
	seen := map[string]bool{}
	err := fs.WalkDir(policies.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(policies.FS(), path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	if len(out) < 10 {
		t.Fatalf("found only %d policy reasons: %v", len(out), out)
	}
	return out
}

// allDenials is every answer of the request path that carries a text.
func allDenials(t *testing.T) []denial {
	ds := []denial{
		denyNoClientCertificate, denyUntrustedCertificate, denyNTNStale, denyNoToken,
		denyMalformedAuthorization, denyTokenTwice, denyPCMUnavailable, denyBodyTooLarge,
		denyPatientLookupFailed, denyPatientResolveUnavailable, denyDuplicatePatient,
		denyPolicyError, denyNotSupported, denyAuditFailed, denyInternal,
		denyForbiddenLabel, denyOrganizationMismatch, denyTooManyHeaderFields, denyNotAcceptable,
		denyUpstreamTargetTooLong, pcmBudgetDenial(3 * time.Second),
		policyDenial(500, "policy_undefined"),
	}
	for _, r := range tokenReasons {
		ds = append(ds, invalidToken(r))
	}
	for _, r := range parserReasons {
		ds = append(ds, denyBadRequest(r))
	}
	for _, r := range upstreamReasons {
		ds = append(ds, denyBadUpstream(r))
	}
	for _, r := range policyReasons(t) {
		status := http.StatusForbidden
		if policyBadRequest[r] {
			status = http.StatusBadRequest
		}
		if r == "patient_not_found" {
			status = http.StatusNotFound
		}
		ds = append(ds, policyDenial(status, r))
	}
	return ds
}

// policyBadRequest mirrors bad_request_reasons of decision.rego: those
// reasons are answered 400, the others 403.
var policyBadRequest = map[string]bool{
	"interaction_unknown": true, "format_not_supported": true, "type_missing": true,
	"id_missing": true, "has_param_not_allowed": true, "chained_param_not_allowed": true,
	"param_not_allowed": true, "type_not_in_compartment": true, "nested_batch_not_allowed": true,
	"batch_empty": true, "batch_too_large": true,
}

// TestDenialTextsDistinct: every reason has its own client text, except
// the documented shared ones; every 404 has no text at all (the canonical
// not-found body).
func TestDenialTextsDistinct(t *testing.T) {
	group := map[string]int{}
	for i, g := range sharedTexts {
		for _, r := range g {
			group[r] = i + 1
		}
	}
	byText := map[string][]string{}
	for _, d := range allDenials(t) {
		if d.status == http.StatusNotFound {
			if d.text != "" {
				t.Errorf("404 %s has a text %q: every 404 must be the canonical not-found", d.reason, d.text)
			}
			continue
		}
		if d.text == "" {
			t.Errorf("%s (%d) has no text", d.reason, d.status)
			continue
		}
		byText[d.text] = append(byText[d.text], d.reason)
	}
	for text, reasons := range byText {
		if len(reasons) == 1 {
			continue
		}
		g := group[reasons[0]]
		for _, r := range reasons {
			if g == 0 || group[r] != g {
				t.Errorf("reasons %v share the text %q but are not a documented shared group", reasons, text)
				break
			}
		}
	}
	// A reason that should be told apart must not slip into a fallback
	// text: each listed reason has an entry of its own.
	for _, r := range append(append(append([]string{}, tokenReasons...), parserReasons...), policyReasons(t)...) {
		if _, ok := reasonTexts[r]; !ok && r != "patient_not_found" {
			t.Errorf("reason %q has no text of its own in reasonTexts", r)
		}
	}
}

// TestDenialTextsRevealNoData: no client text speaks of labels, of whether
// something exists or was withheld, and the forbidden-label 400 says nothing
// of why.
func TestDenialTextsRevealNoData(t *testing.T) {
	for _, d := range allDenials(t) {
		low := strings.ToLower(d.text)
		for _, word := range []string{"label", "withheld", "exist", "restricted", "not found", "hidden"} {
			if strings.Contains(low, word) {
				t.Errorf("%s: text %q speaks of %q", d.reason, d.text, word)
			}
		}
	}
	if denyForbiddenLabel.code != codeInvalidRequest || denyForbiddenLabel.issueType != "invalid" {
		t.Fatalf("forbidden-label 400 must look like any invalid request: %+v", denyForbiddenLabel)
	}
}

// TestDenialLiteralTextsDistinct reads every denial{...} literal of the
// package's source, so that a denial added in any file (not only those
// listed in allDenials) with a text of its own cannot reuse another
// reason's text unnoticed.
func TestDenialLiteralTextsDistinct(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	group := map[string]int{}
	for i, g := range sharedTexts {
		for _, r := range g {
			group[r] = i + 1
		}
	}
	byText := map[string]map[string]bool{}
	add := func(text, reason string) {
		if byText[text] == nil {
			byText[text] = map[string]bool{}
		}
		byText[text][reason] = true
	}
	for reason, text := range reasonTexts {
		add(text, reason)
	}
	literals := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "denial" {
				return true
			}
			var text, reason string
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				val, ok := kv.Value.(*ast.BasicLit)
				if key == nil || !ok || val.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(val.Value)
				if err != nil {
					t.Fatalf("%s: %v", fset.Position(val.Pos()), err)
				}
				switch key.Name {
				case "text":
					text = s
				case "reason":
					reason = s
				}
			}
			if text != "" && reason != "" {
				literals++
				add(text, reason)
			}
			return true
		})
	}
	if literals < 10 {
		t.Fatalf("found only %d denial literals with a constant text and reason", literals)
	}
	for text, reasons := range byText {
		if len(reasons) < 2 {
			continue
		}
		var list []string
		for r := range reasons {
			list = append(list, r)
		}
		sort.Strings(list)
		g := group[list[0]]
		for _, r := range list {
			if g == 0 || group[r] != g {
				t.Errorf("reasons %v share the text %q but are not a documented shared group", list, text)
				break
			}
		}
	}
}
