package caddymodule

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/patient"
	"github.com/hdp-il/fhir-pep/policy"
)

// plan is everything decided about one request before the upstream is asked.
type plan struct {
	req      *fhir.Request
	entries  []*fhir.Request
	decision policy.Decision
	access   *enforce.Access
	ids      []string
	dryRun   bool // the policy denied, but dry-run lets the request through
}

// outcome is what the request produced, for metrics, logs and audit.
type outcome struct {
	status   int
	reason   string
	returned int
	withheld int
	stats    enforce.Stats
}

// decide parses the request, resolves the patient and asks the policy. It
// returns the plan, or the denial to answer with (with a plan holding the
// parsed request when there is one, for the audit record).
func (p *PEP) decide(r *http.Request, next fetchFunc, subj *Subject) (*plan, denial, bool) {
	req, entries, d, ok := p.parseFHIR(r)
	if !ok {
		return nil, d, false
	}
	claims := subj.Claims
	var ids []string
	if claims.PatientValue != "" {
		var err error
		ids, err = p.resolver.Resolve(r.Context(), p.patientFetcher(next), claims.PatientSystem, claims.PatientValue)
		if err != nil {
			p.logDenial(r, "patient lookup failed", zap.Error(err))
			return &plan{req: req}, denyUpstreamUnavailable("patient_lookup_failed"), false
		}
	}
	in := policy.Input{
		Request: req,
		Entries: entries,
		Token:   claims.Raw,
		Scopes:  p.scopes.parse(claims.Scope),
		Patient: policy.Patient{System: claims.PatientSystem, Value: claims.PatientValue, IDs: ids},
		Client:  policy.Client{MemberID: subj.MemberID, Thumbprint: subj.Thumbprint},
	}
	engine := p.engine
	dec, err := engine.EvalInput(r.Context(), &in)
	if err != nil {
		// Eval already returned a deny; the error says which contract
		// was broken. It never holds input values.
		p.logger.Error("policy evaluation failed; denying", zap.Error(err), zap.String("policy_version", engine.Version()))
	}
	pl := &plan{req: req, entries: entries, decision: dec, ids: ids}
	if !dec.Allow {
		reason := "policy_denied"
		if len(dec.Reasons) > 0 {
			reason = dec.Reasons[0]
		}
		d := policyDenial(dec.Status, reason)
		if !p.Policy.DryRun {
			return pl, d, false
		}
		pl.dryRun = true
		p.metrics.dryRunDenials.WithLabelValues(reason).Inc()
		p.logger.Warn("DRY RUN: policy denied, request let through unchanged",
			zap.String("decision_id", subj.DecisionID), zap.Strings("reasons", dec.Reasons), zap.Int("status", dec.Status))
		return pl, denial{}, true
	}
	access, err := p.accessFor(dec.Obligations.Response, ids)
	if err != nil {
		p.logger.Error("policy obligations unusable; denying", zap.Error(err))
		return pl, denyPolicyError, false
	}
	pl.access = access
	return pl, denial{}, true
}

// parseFHIR builds the FHIR request model. Form bodies (POST _search) and
// batch bodies are read, bounded by max_request_bytes; other bodies are not
// needed to decide and are never forwarded (every upstream call is a GET).
func (p *PEP) parseFHIR(r *http.Request) (*fhir.Request, []*fhir.Request, denial, bool) {
	rel := strings.TrimPrefix(r.URL.EscapedPath(), p.BasePath)
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		b, err := io.ReadAll(io.LimitReader(r.Body, p.MaxRequestBytes+1))
		if err != nil {
			return nil, nil, denyBadRequest("unreadable_body"), false
		}
		if int64(len(b)) > p.MaxRequestBytes {
			return nil, nil, denyBodyTooLarge, false
		}
		body = b
	}
	req, err := fhir.ParseRequest(r.Method, rel, r.URL.RawQuery, r.Header, body)
	if err != nil {
		return nil, nil, denyBadRequest(fhirReason(err)), false
	}
	if req.Interaction != fhir.InteractionBatch && req.Interaction != fhir.InteractionTransaction {
		return req, nil, denial{}, true
	}
	raw, err := fhir.ParseBundleEntries(body)
	if err != nil {
		return nil, nil, denyBadRequest(fhirReason(err)), false
	}
	entries := make([]*fhir.Request, 0, len(raw))
	for _, e := range raw {
		er, err := fhir.ParseRequest(e.Method, e.Path, e.RawQuery, nil, e.Body)
		if err != nil {
			return nil, nil, denyBadRequest(fhirReason(err)), false
		}
		entries = append(entries, er)
	}
	return req, entries, denial{}, true
}

func fhirReason(err error) string {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "invalid_request"
}

// accessFor turns the policy's response obligation into the enforcer's
// per-request scope. Buckets arrive as "<canonical system>|<lower-case code>".
func (p *PEP) accessFor(resp policy.Response, ids []string) (*enforce.Access, error) {
	grants := make(map[string][]enforce.Bucket, len(resp.Types))
	for typ, buckets := range resp.Types {
		list := make([]enforce.Bucket, 0, len(buckets))
		for _, b := range buckets {
			if b == "*" {
				// "any bucket" (require_bucket off) has no response-side
				// meaning yet: refuse rather than guess.
				return nil, errors.New("wildcard bucket grants are not supported by response enforcement")
			}
			system, code, ok := strings.Cut(b, "|")
			if !ok || system == "" || code == "" {
				return nil, errors.New("malformed bucket in policy obligations")
			}
			list = append(list, enforce.Bucket{System: system, Code: code})
		}
		grants[typ] = list
	}
	return p.enforcer.Access(enforce.Scope{PatientIDs: ids, Grants: grants})
}

// patientFetcher resolves patients through the same handler chain as the
// proxied request, so lookups use the configured upstream, TLS and headers.
// The lookup is a POST _search with the identifier in the form body, not
// in the URL: URLs end up in access and debug logs (reverse_proxy's among
// them), and a national id must not.
func (p *PEP) patientFetcher(fetch fetchFunc) patient.Fetcher {
	return func(ctx context.Context, form string) (int, []byte, error) {
		c, err := fetch(ctx, "/Patient/_search", "", form)
		if err != nil {
			return 0, nil, err
		}
		if c.overflow {
			return 0, nil, errors.New("patient lookup response too large")
		}
		return c.statusCode(), c.body.Bytes(), nil
	}
}

// isJSON accepts the media types a FHIR JSON body may carry.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/fhir+json" || mt == "application/json" || mt == "application/json+fhir"
}
