package caddymodule

import (
	"context"
	"errors"
	"io"
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

// decide resolves the patient and asks the policy about a parsed request.
// It returns the plan to carry out, or the denial to answer with. A policy
// deny under dry_run is a plan too, marked dryRun.
func (p *PEP) decide(r *http.Request, fetch fetchFunc, subj *Subject, req *fhir.Request, entries []*fhir.Request) (*plan, error) {
	claims := subj.Claims
	var ids []string
	if claims.PatientValue != "" {
		var err error
		ids, err = p.resolver.Resolve(r.Context(), p.patientFetcher(fetch), claims.PatientSystem, claims.PatientValue)
		if err != nil {
			p.logDenial(r, "patient lookup failed", zap.Error(err))
			switch _, national := p.resolver.(*patient.NationalResolver); {
			case errors.Is(err, patient.ErrDuplicatePatient):
				return nil, denyDuplicatePatient
			case national:
				return nil, denyPatientResolveUnavailable
			}
			return nil, denyPatientLookupFailed
		}
	}
	in := policy.Input{
		Request: req,
		Entries: entries,
		Claims:  claims,
		Scopes:  p.scopes.parse(claims.Scope),
		Patient: policy.Patient{System: claims.PatientSystem, Value: claims.PatientValue, IDs: ids},
		Client:  policy.Client{MemberID: subj.MemberID, Thumbprint: subj.Thumbprint},
		Baskets: policyBaskets(claims.Baskets),
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
		if p.Policy.DryRun {
			pl.dryRun = true
			return pl, nil
		}
		return nil, policyDenial(dec.Status, policyReason(dec))
	}
	access, err := p.accessFor(dec.Obligations.Response, ids)
	if err != nil {
		p.logger.Error("policy obligations unusable; denying", zap.Error(err))
		return nil, denyPolicyError
	}
	pl.access = access
	return pl, nil
}

// policyReason is the reason code of a policy deny: the policy's first
// reason, or policy_denied when it gave none.
func policyReason(dec policy.Decision) string {
	if len(dec.Reasons) > 0 {
		return dec.Reasons[0]
	}
	return "policy_denied"
}

// parseFHIR builds the FHIR request model. Form bodies (POST _search) and
// batch bodies are read, bounded by max_request_bytes; other bodies are not
// needed to decide and are never forwarded (every upstream call is a GET).
func (p *PEP) parseFHIR(r *http.Request) (*fhir.Request, []*fhir.Request, error) {
	rel := strings.TrimPrefix(r.URL.EscapedPath(), p.BasePath)
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		b, err := io.ReadAll(io.LimitReader(r.Body, p.MaxRequestBytes+1))
		if err != nil {
			return nil, nil, denyBadRequest("unreadable_body")
		}
		if int64(len(b)) > p.MaxRequestBytes {
			return nil, nil, denyBodyTooLarge
		}
		body = b
	}
	req, err := fhir.ParseRequest(r.Method, rel, r.URL.RawQuery, r.Header, body)
	if err != nil {
		return nil, nil, denyBadRequest(fhirReason(err))
	}
	if req.Interaction != fhir.InteractionBatch && req.Interaction != fhir.InteractionTransaction {
		return req, nil, nil
	}
	raw, err := fhir.ParseBundleEntries(body)
	if err != nil {
		return nil, nil, denyBadRequest(fhirReason(err))
	}
	entries := make([]*fhir.Request, 0, len(raw))
	for _, e := range raw {
		er, err := fhir.ParseRequest(e.Method, e.Path, e.RawQuery, nil, e.Body)
		if err != nil {
			return nil, nil, denyBadRequest(fhirReason(err))
		}
		entries = append(entries, er)
	}
	return req, entries, nil
}

func fhirReason(err error) string {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "invalid_request"
}

// patientFetcher resolves patients through the same handler chain as the
// proxied request, so lookups use the configured upstream, TLS and headers.
// The lookup is a POST _search with the identifier in the form body, not
// in the URL: URLs end up in access and debug logs (reverse_proxy's among
// them), and a national id must not.
//
// Like every search the PEP sends upstream, it carries one _security:not
// per forbidden label: a labelled Patient is never resolved.
func (p *PEP) patientFetcher(fetch fetchFunc) patient.Fetcher {
	not := p.patientNotForm
	return func(ctx context.Context, form string) (int, []byte, error) {
		if not != "" {
			form += "&" + not
		}
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
