package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionAlgs is the explicit allow list for client assertions; "none"
// and HMAC algorithms can never verify against a certificate key.
var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256}

// clockLeeway tolerates small clock differences for iat and nbf only; exp
// is checked strictly.
const clockLeeway = 30 * time.Second

// verifyAssertion checks a private_key_jwt client assertion (RFC 7523): it
// must be signed by the key of the mTLS client certificate, name the client
// as iss and sub, be addressed to this token endpoint, be short-lived and
// not be replayed. It records the jti on success.
func (p *pcm) verifyAssertion(raw string, cert *x509.Certificate) error {
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var c jwt.Claims
	if err := tok.Claims(cert.PublicKey, &c); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	now := p.now()
	switch {
	case c.Issuer != p.cfg.clientID || c.Subject != p.cfg.clientID:
		return errors.New("iss and sub must be the client id")
	case !c.Audience.Contains(p.cfg.tokenURL):
		return errors.New("aud is not the token endpoint")
	case c.Expiry == nil:
		return errors.New("exp missing")
	case !now.Before(c.Expiry.Time()):
		return errors.New("expired")
	case c.Expiry.Time().Sub(now) > p.cfg.maxAssertionLifetime:
		return errors.New("lifetime too long")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(clockLeeway)):
		return errors.New("iat in the future")
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(clockLeeway)):
		return errors.New("not yet valid")
	case c.ID == "":
		return errors.New("jti missing")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for jti, exp := range p.seenJTIs {
		if !now.Before(exp) {
			delete(p.seenJTIs, jti)
		}
	}
	if _, seen := p.seenJTIs[c.ID]; seen {
		return errors.New("jti replayed")
	}
	p.seenJTIs[c.ID] = c.Expiry.Time()
	return nil
}
