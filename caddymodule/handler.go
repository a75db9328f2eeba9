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

	"github.com/hdp-il/fhir-pep/introspection"
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

// ServeHTTP enforces the gate. It writes the denial itself (as a FHIR
// OperationOutcome) rather than returning a caddyhttp.Error, because the
// FHIR contract requires that body and the RFC 6750 challenge on every
// denial, whatever handle_errors an operator configured.
func (p *PEP) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := p.now()
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	decisionID := newDecisionID()
	w.Header().Set(decisionHeader, decisionID)
	if repl != nil {
		repl.Set("http.fhir_pep.decision_id", decisionID)
	}

	subj, d, ok := p.authenticate(r, decisionID)
	if !ok {
		p.deny(w, r, repl, d)
		p.metrics.observeGate(d.reason, p.now().Sub(start))
		return nil
	}
	p.metrics.observeGate("allowed", p.now().Sub(start))
	if repl != nil {
		repl.Set("http.fhir_pep.member_id", subj.MemberID)
		repl.Set("http.fhir_pep.client_id", subj.Claims.ClientID)
	}

	stripClientCredentials(r)
	r = r.WithContext(context.WithValue(r.Context(), subjectKey{}, subj))
	return next.ServeHTTP(w, r)
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
		return nil, denyUntrustedCertificate, false
	}

	token, err := bearerToken(r, p.MaxFormBytes)
	switch {
	case errors.Is(err, errNoToken):
		return nil, denyNoToken, false
	case errors.Is(err, errTokenTwice):
		return nil, denyTokenTwice, false
	case errors.Is(err, errBodyTooLarge):
		return nil, denyBodyTooLarge, false
	case err != nil:
		return nil, denyMalformedAuthorization, false
	}

	claims, _, err := p.pcm.introspect(r.Context(), token)
	if err != nil {
		// Fail closed: PCM unreachable, slow, erroring or answering
		// garbage all mean "no". The error text never holds the token.
		p.logDenial(r, "introspection failed", zap.Error(err))
		return nil, denyPCMUnavailable, false
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
		return nil, invalidToken(reason), false
	}
	return &Subject{Claims: claims, MemberID: memberID, Thumbprint: thumbprint, DecisionID: decisionID}, denial{}, true
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
