package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/trust"
)

// decisionHeader carries the decision id back to the client, so a caller
// and the data source can find the same decision in their records.
const decisionHeader = "X-Fhir-Pep-Decision-Id"

// internalHeaderPrefix is reserved for what the PEP tells the upstream.
// Every incoming header with it is removed, so a client can never pose as
// the PEP.
const internalHeaderPrefix = "X-Fhir-Pep-"

// Subject is what the token gate established about the caller. Later stages
// (policy, response enforcement, audit) read it from the request context.
type Subject struct {
	Claims     *introspection.Claims
	MemberID   string
	Thumbprint string
	DecisionID string
}

type subjectKey struct{}

// SubjectFrom returns the Subject established for this request, if any.
func SubjectFrom(ctx context.Context) (*Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(*Subject)
	return s, ok
}

// ServeHTTP runs the whole PEP: the token gate, the policy decision, the
// narrowed upstream call(s) through next, and the response check. It writes
// denials itself (as FHIR OperationOutcomes) rather than returning a
// caddyhttp.Error, because the FHIR contract requires that body and the
// RFC 6750 challenge on every denial, whatever handle_errors an operator
// configured.
func (p *PEP) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := p.now()
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	decisionID := newDecisionID()
	w.Header().Set(decisionHeader, decisionID)
	if repl != nil {
		repl.Set("http.fhir_pep.decision_id", decisionID)
	}

	subj, d, ok := p.authenticate(r, decisionID)
	p.metrics.stageDuration.WithLabelValues("gate").Observe(p.now().Sub(start).Seconds())
	if !ok {
		p.finishDenied(w, r, repl, subj, decisionID, nil, d, false)
		return nil
	}
	if repl != nil {
		repl.Set("http.fhir_pep.member_id", subj.MemberID)
		repl.Set("http.fhir_pep.client_id", subj.Claims.ClientID)
	}
	stripClientCredentials(r)
	r.Header.Set(decisionHeader, decisionID)
	r = r.WithContext(context.WithValue(r.Context(), subjectKey{}, subj))
	fetch := p.fetcher(r, next)

	policyStart := p.now()
	pl, d, ok := p.decide(r, fetch, subj)
	p.metrics.stageDuration.WithLabelValues("policy").Observe(p.now().Sub(policyStart).Seconds())
	if !ok {
		var req *fhir.Request
		if pl != nil {
			req = pl.req
		}
		p.finishDenied(w, r, repl, subj, decisionID, req, d, false)
		return nil
	}
	if pl.dryRun {
		return p.passThrough(w, r, next, repl, subj, decisionID, pl)
	}
	res := p.execute(r.Context(), fetch, pl)
	rec := p.auditRecord(subj, decisionID, pl.req, res.status, res.out.reason, res.out, false)
	if !p.record(r.Context(), rec) {
		p.finishDenied(w, r, repl, subj, decisionID, pl.req, denyAuditFailed, true)
		return nil
	}
	p.metrics.observeDecision(res.status < 400, res.out.reason)
	if repl != nil && res.out.reason != "" {
		repl.Set("http.fhir_pep.reason", res.out.reason)
	}
	writeResult(w, res)
	return nil
}

// finishDenied audits and writes a denial. audited is true when the
// denial is itself the answer to an audit failure (no second record).
func (p *PEP) finishDenied(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, subj *Subject, decisionID string, req *fhir.Request, d denial, audited bool) {
	if !audited {
		rec := p.auditRecord(subj, decisionID, req, d.status, d.reason, outcome{}, false)
		if !p.record(r.Context(), rec) {
			d = denyAuditFailed
		}
	}
	p.deny(w, r, repl, d)
	p.metrics.observeDecision(false, d.reason)
}

// passThrough is dry-run for a request the policy denied: reads go to the
// upstream unchanged; writes stay refused even in dry-run.
func (p *PEP) passThrough(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, repl *caddy.Replacer, subj *Subject, decisionID string, pl *plan) error {
	if !isReadInteraction(pl.req.Interaction) {
		p.finishDenied(w, r, repl, subj, decisionID, pl.req, denyNotSupported, false)
		return nil
	}
	reason := "policy_denied"
	if len(pl.decision.Reasons) > 0 {
		reason = pl.decision.Reasons[0]
	}
	if !p.record(r.Context(), p.auditRecord(subj, decisionID, pl.req, http.StatusOK, reason, outcome{}, true)) {
		p.finishDenied(w, r, repl, subj, decisionID, pl.req, denyAuditFailed, true)
		return nil
	}
	p.metrics.observeDecision(true, "allowed")
	r.Header.Del(decisionHeader)
	return next.ServeHTTP(w, r)
}

func isReadInteraction(i fhir.Interaction) bool {
	switch i {
	case fhir.InteractionRead, fhir.InteractionVRead, fhir.InteractionHistoryInstance,
		fhir.InteractionHistoryType, fhir.InteractionHistorySystem, fhir.InteractionSearchType,
		fhir.InteractionSearchSystem, fhir.InteractionSearchCompartment, fhir.InteractionCapabilities:
		return true
	}
	return false
}

// writeResult sends a checked result. Patient data is never cacheable by
// intermediaries.
func writeResult(w http.ResponseWriter, res result) {
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// authenticate runs the checks of the token gate in the order that costs
// the least for a hostile caller: certificate, header syntax, then PCM.
func (p *PEP) authenticate(r *http.Request, decisionID string) (*Subject, denial, bool) {
	if !p.underBase(r.URL.Path) {
		return nil, denyOutsideBase, false
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, denyNoClientCertificate, false
	}
	leaf := r.TLS.PeerCertificates[0]
	thumbprint := introspection.Thumbprint(leaf.Raw)
	memberID, err := p.trust.VerifyPeer(leaf, r.TLS.PeerCertificates[1:])
	if err != nil {
		// The certificate may have been removed from NTN while this
		// connection stayed open; nothing cached for it may be used.
		p.pcm.forgetThumbprints([]string{thumbprint})
		p.logDenial(r, "untrusted client certificate", zap.String("member_id", memberID), zap.Error(err))
		switch trust.ReasonOf(err) {
		case trust.ReasonStale, trust.ReasonNoManifest:
			// Not the caller's fault: without a fresh manifest nobody is
			// trusted. Counted as fail-closed for alerting.
			d := denyUntrustedCertificate
			d.reason = "ntn_stale"
			return nil, d, false
		}
		return nil, denyUntrustedCertificate, false
	}

	// From here on the caller is a known NTN member: denials are audited
	// with who asked.
	partial := &Subject{MemberID: memberID, Thumbprint: thumbprint, DecisionID: decisionID}
	token, err := bearerToken(r, p.MaxRequestBytes)
	switch {
	case errors.Is(err, errNoToken):
		return partial, denyNoToken, false
	case errors.Is(err, errTokenTwice):
		return partial, denyTokenTwice, false
	case errors.Is(err, errBodyTooLarge):
		return partial, denyBodyTooLarge, false
	case err != nil:
		return partial, denyMalformedAuthorization, false
	}

	claims, _, err := p.pcm.introspect(r.Context(), token)
	if errors.Is(err, introspection.ErrIncompleteClaims) {
		// PCM answered, but the token lacks what binding and scoping
		// need: the token is unusable, retrying will not help.
		return partial, invalidToken("incomplete_claims"), false
	}
	if err != nil {
		// Fail closed: PCM unreachable, slow, erroring or answering
		// garbage all mean "no". The error text never holds the token.
		p.logDenial(r, "introspection failed", zap.Error(err))
		return partial, denyPCMUnavailable, false
	}
	err = introspection.Validate(claims, introspection.Expectations{
		Issuer:     p.issuer,
		Resource:   p.resource,
		Thumbprint: thumbprint,
		Now:        p.now(),
		Skew:       time.Duration(p.ClockSkew),
	})
	if err != nil {
		var ve *introspection.ValidationError
		reason := "invalid_token"
		if errors.As(err, &ve) {
			reason = ve.Reason
		}
		return partial, invalidToken(reason), false
	}
	partial.Claims = claims
	return partial, denial{}, true
}

func (p *PEP) underBase(path string) bool {
	if p.BasePath == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, p.BasePath)
	return ok && (rest == "" || rest[0] == '/')
}

func (p *PEP) deny(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, d denial) {
	if repl != nil {
		repl.Set("http.fhir_pep.reason", d.reason)
	}
	if ce := p.logger.Check(zapcore.DebugLevel, "request denied"); ce != nil {
		ce.Write(zap.String("reason", d.reason), zap.Int("status", d.status), zap.String("method", r.Method))
	}
	writeDenial(w, p.Realm, d)
}

func (p *PEP) logDenial(r *http.Request, msg string, fields ...zap.Field) {
	if ce := p.logger.Check(zapcore.InfoLevel, msg); ce != nil {
		ce.Write(append(fields, zap.String("remote_ip", clientIP(r)))...)
	}
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// stripClientCredentials removes everything the upstream must not see or
// must not believe: the caller's token (the upstream has no business with
// PCM tokens) and any header posing as a statement of the PEP.
func stripClientCredentials(r *http.Request) {
	r.Header.Del("Authorization")
	r.Header.Del("Proxy-Authorization")
	for name := range r.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(name), internalHeaderPrefix) {
			delete(r.Header, name)
		}
	}
}

func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
