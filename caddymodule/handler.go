package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/audit"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/introspection"
)

// decisionHeader carries the decision id back to the client, so a caller
// and the data source can find the same decision in their records.
const decisionHeader = "X-Fhir-Pep-Decision-Id"

// Subject is what the token gate established about the caller: the NTN
// member of the client certificate, its thumbprint, and (once the token is
// accepted) the token's claims.
type Subject struct {
	Claims     *introspection.Claims
	MemberID   string
	Thumbprint string
	// tokenSHA256 is the SHA-256 of the accepted bearer token: page links
	// are bound to it (the token itself is kept nowhere).
	tokenSHA256 [32]byte
}

// exchange is one request on its way through the PEP. Each stage reads
// what the earlier ones established here, and finish reports all of it.
type exchange struct {
	w    http.ResponseWriter
	r    *http.Request
	next caddyhttp.Handler
	// start is when the PEP took the request; the gate stage is timed
	// from it.
	start      time.Time
	decisionID string
	// decisionVals back the decision header of the answer and of the
	// upstream request (one slice each, to its full capacity): values in
	// the exchange cost no allocation of their own.
	decisionVals [2]string
	// correlationID is the request's X-Correlation-ID, checked or minted
	// (correlate): echoed, passed upstream and audited.
	correlationID string
	// subject is nil until the client certificate is trusted, and its
	// Claims nil until the token is accepted.
	subject *Subject
	// subjectVal is where subject points once set.
	subjectVal Subject
	// req is nil until the FHIR request is parsed.
	req *fhir.Request
	// dryRun marks a request the policy denied but dry_run lets through.
	dryRun bool
	// captures are the buffered upstream answers, released to their
	// pool once the answer (which may alias them) is written.
	captures []*capture
	// capturesBuf backs captures for the usual one or two upstream calls.
	capturesBuf [2]*capture
	// httpErr is checkHTTP's verdict on the request as the client sent
	// it, before begin adds headers of its own (X-Correlation-ID).
	httpErr error
	// stage is the audit.Stage* of the stage serve is running: stageOf
	// reads it to audit where a refusal was decided.
	stage string
	// deniedStage is stageOf's verdict, set by finish for auditRecord.
	deniedStage string
	// identified is set once the token is bound to the subject: from then
	// on the member_id and client_id placeholders are known.
	identified bool
	// reason is the outcome's reason, for its placeholder, set by finish.
	reason string
}

// placeholder is the exchange's provider of the {http.fhir_pep.*}
// placeholders (module.go), read when a placeholder is replaced: a
// placeholder is known from the point where the request path learns its
// value, and it says what the path established, so the exchange is never
// reused for another request (the access log reads it after ServeHTTP
// returned).
func (x *exchange) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "http.fhir_pep.")
	if !ok {
		return nil, false
	}
	switch name {
	case "decision_id":
		return x.decisionID, true
	case "correlation_id":
		return x.correlationID, true
	case "member_id":
		if x.identified {
			return x.subject.MemberID, true
		}
	case "client_id":
		if x.identified {
			return x.subject.Claims.ClientID, true
		}
	case "reason":
		if x.reason != "" {
			return x.reason, true
		}
	}
	return nil, false
}

// ServeHTTP runs the whole PEP, top to bottom: the token gate
// (authenticate.go), the FHIR request parser and the policy decision
// (decide.go), the narrowed upstream call(s) through next and the
// response check (execute.go, upstream.go). Every stage either adds to
// the exchange or returns a denial (denial.go); finish is the one exit
// that audits, counts and answers (respond.go) on every branch.
//
// Denials are written by the PEP itself (FHIR OperationOutcomes) rather
// than returned as caddyhttp.Error, because the FHIR contract requires that
// body and the RFC 6750 challenge on every denial, whatever handle_errors
// an operator configured.
func (p *PEP) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p.inflight.enter()
	defer p.inflight.leave()
	x := p.begin(w, r, next)
	res, err := p.serve(x)
	return p.finish(x, res, err)
}

func (p *PEP) begin(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) *exchange {
	x := &exchange{w: w, r: r, next: next, start: p.now(), decisionID: newDecisionID(), httpErr: checkHTTP(r, p.limitsConfig())}
	x.captures = x.capturesBuf[:0]
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// One provider reading the exchange instead of a Set per
		// placeholder: each Set boxed its value and grew the replacer's
		// map on every request, and most requests never read them.
		repl.Map(x.placeholder)
	}
	x.decisionVals = [2]string{x.decisionID, x.decisionID}
	w.Header()[decisionHeader] = x.decisionVals[0:1:1]
	x.correlationID = correlate(w, r, x.decisionID)
	return x
}

// serve is the request path. It returns the answer the PEP decided, or
// the denial that ended the path.
func (p *PEP) serve(x *exchange) (result, error) {
	if x.httpErr != nil {
		return result{}, x.httpErr
	}
	if res, ok := p.discovery(x.r); ok {
		return res, nil
	}
	x.stage = audit.StageTrust
	if err := p.authenticate(x); err != nil {
		switch {
		case asDenial(err).reason == denyOutsideBase.reason:
			x.stage = audit.StageRequest
		case x.subject != nil:
			// authenticate sets the subject once the certificate is
			// trusted: what failed after that is the token.
			x.stage = audit.StageToken
		}
		return result{}, err
	}
	if err := p.bindToken(x); err != nil {
		return result{}, err
	}
	x.identified = true
	stripClientCredentials(x.r, p.assertionHeader())
	x.r.Header[decisionHeader] = x.decisionVals[1:2:2]
	fetch := x.trackedFetch(p)
	if p.isPageRequest(x.r) {
		return p.servePage(x, fetch)
	}

	x.stage = audit.StageRequest
	start := p.now()
	req, entries, err := p.parseFHIR(asGet(x.r))
	if err == nil {
		err = checkFormat(x.r.Header, req)
	}
	if err == nil {
		err = p.checkParams(req, entries)
	}
	if err != nil {
		p.observeStage(p.metrics.stagePolicy, start)
		return result{}, err
	}
	x.req = req
	x.stage = audit.StagePolicy
	pl, err := p.decide(x.r, fetch, x.subject, req, entries)
	p.observeStage(p.metrics.stagePolicy, start)
	if err != nil {
		return result{}, err
	}
	if pl.dryRun {
		return p.passThrough(x, pl)
	}
	x.stage = audit.StageUpstream
	ctx, err := p.bindAssertion(x, pl)
	if err != nil {
		return result{}, err
	}
	// Refusals of the upstream's answers are told apart by stageOf.
	x.stage = audit.StageResponse
	if fetch, err = p.sealPageLinks(x, pl, fetch); err != nil {
		return result{}, err
	}
	return p.execute(ctx, fetch, pl)
}

// passThrough is dry-run for a request the policy denied: a read goes to
// the upstream unchanged (finish hands it to next); a write stays refused.
func (p *PEP) passThrough(x *exchange, pl *plan) (result, error) {
	if !isReadInteraction(pl.req.Interaction) {
		return result{}, denyNotSupported
	}
	reason := policyReason(pl.decision)
	p.metrics.dryRunDenials.WithLabelValues(reason).Inc()
	p.logger.Warn("DRY RUN: policy denied, request let through unchanged",
		zap.String("decision_id", x.decisionID), zap.Strings("reasons", pl.decision.Reasons), zap.Int("status", pl.decision.Status))
	x.dryRun = true
	return result{status: http.StatusOK, out: outcome{reason: reason}}, nil
}

// finish is the one exit of the request path, after opa-envoy-plugin's
// stop closure: whatever branch ended the path, the decision is audited
// (a failed record under audit required turns the answer into a 503),
// counted, published as a placeholder and answered.
func (p *PEP) finish(x *exchange, res result, err error) error {
	if err != nil {
		var d denial
		if !errors.As(err, &d) {
			p.logger.Error("request path failed; denying", zap.Error(err))
			d = denyInternal
		}
		res = p.answer(d)
	}
	x.deniedStage = x.stageOf(err, res.status)
	if err := p.record(x, res); err != nil {
		p.logger.Error("audit record not written; failing closed", zap.Error(err))
		res = p.answer(denyAuditFailed)
	}
	allowed := res.status < 400
	p.metrics.observeDecision(allowed, res.out.reason, res.out.failClosed)
	x.reason = res.out.reason
	if !allowed {
		if ce := p.logger.Check(zapcore.DebugLevel, "request denied"); ce != nil {
			ce.Write(zap.String("reason", res.out.reason), zap.Int("status", res.status), zap.String("method", x.r.Method))
		}
	}
	defer x.releaseCaptures()
	if x.dryRun && allowed {
		x.r.Header.Del(decisionHeader)
		return x.next.ServeHTTP(x.w, x.r)
	}
	respond(x.w, res)
	return nil
}

// trackedFetch is p.fetcher for the exchange's request that records every
// capture it returns, for releaseCaptures (one closure instead of one
// wrapping another). The upstream calls of one exchange run one after the
// other, on its goroutine.
func (x *exchange) trackedFetch(p *PEP) fetchFunc {
	return func(ctx context.Context, relPath, rawQuery, form string) (*capture, error) {
		c, err := p.fetch(ctx, x.r, x.next, relPath, rawQuery, form)
		if c != nil {
			x.captures = append(x.captures, c)
		}
		return c, err
	}
}

// releaseCaptures returns the capture buffers to their pool. It runs
// after the answer is written: ResponseWriter.Write has copied or sent
// the bytes by the time it returns.
func (x *exchange) releaseCaptures() {
	for _, c := range x.captures {
		c.release()
	}
	// The released captures may already serve other requests: the
	// exchange (read later by the placeholder provider) keeps no
	// reference to them.
	x.captures = nil
	clear(x.capturesBuf[:])
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

func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
