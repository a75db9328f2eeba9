package caddymodule

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hdp-il/fhir-pep/audit"
	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/policy"
)

// The claims of the national PCM (issue #11): the settings of their
// checks, the answers to tokens that fail them, and their way into the
// policy input and the audit record. The checks themselves are in the
// introspection package (DecodeClaims, Validate, CheckOrganization).

// denyOrganizationMismatch answers a valid token presented by another
// organization than the one it was issued to. 403, not 401: the token is
// fine, the caller is not the one it is for.
var denyOrganizationMismatch = denial{
	status: http.StatusForbidden, issueType: "forbidden", code: codeAuthCertificate,
	text:   "The access token was not issued to the organization of the client certificate.",
	reason: introspection.ErrOrganizationMismatch.Reason,
}

// onOff reads "on" or "off" into a setting whose unset value means on.
func onOff(dst **bool) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		var v string
		if !d.NextArg() {
			return d.ArgErr()
		}
		v = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch v {
		case "on":
			*dst = new(bool)
			**dst = true
		case "off":
			*dst = new(bool)
		default:
			return d.Errf("want on or off, got %q", v)
		}
		return nil
	}
}

// settingOn is the value of a setting that is on unless set off.
func settingOn(b *bool) bool { return b == nil || *b }

// checkClaimSettings validates the claim settings of the pcm block: a
// patient system is an absolute URI (http(s) or urn:oid:...) that cannot
// hide a second value.
func (c *PCMConfig) checkClaimSettings() *configError {
	for _, s := range c.PatientSystems {
		u, err := url.Parse(s)
		if err != nil || strings.ContainsAny(s, "|, \t") || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			return invalid("pcm", "patient_systems", "%q is not an absolute identifier system URI", s)
		}
	}
	return nil
}

// claimExpectations adds the claim settings of the pcm block to the
// expectations of one request.
func (c *PCMConfig) claimExpectations(e introspection.Expectations) introspection.Expectations {
	if c == nil {
		return e
	}
	e.PatientSystems = c.PatientSystems
	e.ConsentOptional = !settingOn(c.RequireConsent)
	e.CNFOptional = !settingOn(c.CNFRequired)
	return e
}

// checkOrganization refuses (403) a token issued to another organization
// than the NTN member of the presented certificate, unless the check is
// off.
func (p *PEP) checkOrganization(claims *introspection.Claims, memberID string) error {
	if p.PCM != nil && !settingOn(p.PCM.OrganizationCheck) {
		return nil
	}
	if introspection.CheckOrganization(claims, memberID) != nil {
		return denyOrganizationMismatch
	}
	return nil
}

// claimDenial is the 401 of a token whose claims PCM sent but this data
// source cannot act on (introspection.ClaimError): a malformed patient,
// baskets, cnf, nbf or consent reference. ok is false for other errors.
func claimDenial(err error) (d denial, ok bool) {
	var ce *introspection.ClaimError
	if !errors.As(err, &ce) {
		return denial{}, false
	}
	return invalidToken(ce.Reason), true
}

// policyBaskets is the token's baskets as policy input; nil (no claim)
// stays nil, so input.baskets stays absent.
func policyBaskets(baskets []introspection.Basket) []policy.Basket {
	if baskets == nil {
		return nil
	}
	out := make([]policy.Basket, len(baskets))
	for i, b := range baskets {
		out[i] = policy.Basket(b)
	}
	return out
}

// auditBaskets is the token's baskets for the audit record.
func auditBaskets(baskets []introspection.Basket) []audit.Basket {
	if baskets == nil {
		return nil
	}
	out := make([]audit.Basket, len(baskets))
	for i, b := range baskets {
		out[i] = audit.Basket(b)
	}
	return out
}
