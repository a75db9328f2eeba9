package caddymodule

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/trust"
)

// internalHeaderPrefix is reserved for what the PEP tells the upstream.
// Every incoming header with it is removed, so a client can never pose as
// the PEP.
const internalHeaderPrefix = "X-Fhir-Pep-"

// authenticate is the token gate. Its checks run in the order that costs
// the least for a hostile caller: base path, certificate, header syntax,
// then PCM. It sets x.subject as it learns who is calling: once the
// certificate is trusted, denials are audited with the member id.
func (p *PEP) authenticate(x *exchange) error {
	defer p.observeStage(p.metrics.stageGate, x.start)
	r := x.r
	if !p.underBase(r.URL.Path) {
		return denyOutsideBase
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return denyNoClientCertificate
	}
	leaf := r.TLS.PeerCertificates[0]
	thumbprint := trust.Thumbprint(leaf)
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
			return denyNTNStale
		}
		return denyUntrustedCertificate
	}
	// The subject lives in the exchange: one allocation less per request.
	x.subjectVal = Subject{MemberID: memberID, Thumbprint: thumbprint}
	x.subject = &x.subjectVal

	token, err := bearerToken(r, p.MaxRequestBytes)
	switch {
	case errors.Is(err, errNoToken):
		return denyNoToken
	case errors.Is(err, errTokenTwice):
		return denyTokenTwice
	case errors.Is(err, errBodyTooLarge):
		return denyBodyTooLarge
	case err != nil:
		return denyMalformedAuthorization
	}

	claims, _, err := p.pcm.introspect(r.Context(), memberID, token)
	if err != nil {
		return p.introspectionDenial(r, err)
	}
	if err := p.checkClaims(claims, thumbprint); err != nil {
		return err
	}
	if err := p.checkOrganization(claims, memberID); err != nil {
		return err
	}
	x.subject.Claims = claims
	return nil
}

// introspectionDenial is the answer to a failed introspection. It is
// kept off the success path: each errors.As target escapes to the heap,
// which cost an allocation per request even when err was nil.
func (p *PEP) introspectionDenial(r *http.Request, err error) error {
	var budget *introspection.BudgetError
	if errors.As(err, &budget) {
		// The member's (or everyone's) PCM call budget is spent: PCM was
		// not asked, and the caller is told when to try again.
		return pcmBudgetDenial(budget.RetryAfter)
	}
	if d, ok := claimDenial(err); ok {
		// PCM answered, but a claim of this token (patient, baskets,
		// cnf, nbf, consent) cannot be acted on: 401, never 503, and
		// never a patient lookup.
		return d
	}
	if errors.Is(err, introspection.ErrIncompleteClaims) {
		// PCM answered, but the token lacks what binding and scoping
		// need: the token is unusable, retrying will not help.
		return invalidToken("incomplete_claims")
	}
	// Fail closed: PCM unreachable, slow, erroring or answering garbage
	// all mean "no". The error text never holds the token.
	p.logDenial(r, "introspection failed", zap.Error(err))
	return denyPCMUnavailable
}

// checkClaims applies the token checks of this data source to an
// introspection answer: issuer, audience, time, certificate binding.
func (p *PEP) checkClaims(claims *introspection.Claims, thumbprint string) error {
	err := introspection.Validate(claims, p.PCM.claimExpectations(introspection.Expectations{
		Issuer:     p.issuer,
		Resource:   p.resource,
		Thumbprint: thumbprint,
		Now:        p.now(),
		Skew:       time.Duration(p.ClockSkew),
	}))
	if err == nil {
		return nil
	}
	var ve *introspection.ValidationError
	if errors.As(err, &ve) {
		return invalidToken(ve.Reason)
	}
	return invalidToken("invalid_token")
}

func (p *PEP) underBase(path string) bool {
	if p.BasePath == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, p.BasePath)
	return ok && (rest == "" || rest[0] == '/')
}

func (p *PEP) logDenial(r *http.Request, msg string, fields ...zap.Field) {
	if ce := p.logger.Check(zapcore.InfoLevel, msg); ce != nil {
		ce.Write(append(fields, zap.String("remote_ip", clientIP(r)))...)
	}
}

// assertionHeader is the header of the upstream assertion, "" when none is
// configured.
func (p *PEP) assertionHeader() string {
	if p.asserter == nil {
		return ""
	}
	return p.asserter.header
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
// PCM tokens) and any header posing as a statement of the PEP, including
// the upstream assertion's header when it has a name of its own outside
// the prefix (assertionHeader; "" when there is none). Under dry_run the
// client's request itself goes upstream.
func stripClientCredentials(r *http.Request, assertionHeader string) {
	r.Header.Del("Authorization")
	r.Header.Del("Proxy-Authorization")
	if assertionHeader != "" {
		r.Header.Del(assertionHeader)
	}
	for name := range r.Header {
		if hasInternalPrefix(name) {
			delete(r.Header, name)
		}
	}
}

// hasInternalPrefix reports whether a header name starts with
// internalHeaderPrefix in any letter case, "_" standing for "-". It matches every name whose
// canonical form has the prefix (and also names CanonicalHeaderKey leaves
// alone, such as one with a space: removed all the same), without
// canonicalising each name of each request.
func hasInternalPrefix(name string) bool {
	if len(name) < len(internalHeaderPrefix) {
		return false
	}
	for i := range len(internalHeaderPrefix) {
		c, want := name[i], internalHeaderPrefix[i]
		if c == '_' {
			// CGI, WSGI, PHP and some proxies read "_" as "-": an
			// X_Fhir_Pep_ header would pose as the PEP's to them.
			c = '-'
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if 'a' <= want && want <= 'z' {
			want -= 'a' - 'A'
		}
		if c != want {
			return false
		}
	}
	return true
}
