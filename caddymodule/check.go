package caddymodule

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
)

// configError is one mistake in the handler's configuration. It names the
// option the operator has to change: block is "" for the fhir_pep block's
// own subdirectives and "pcm", "policy" or "audit" for the nested blocks.
// The Caddyfile parser adds the file and line of that option (or of the
// block that lacks it); a JSON config gets the same message without them.
type configError struct {
	block, option string
	msg           string
}

func (e *configError) Error() string { return "fhir_pep: " + e.msg }

func (e *configError) name() string {
	if e.block == "" {
		return e.option
	}
	return e.block + " " + e.option
}

func missing(block, option, why string) *configError {
	e := &configError{block: block, option: option}
	e.msg = e.name() + " is required" + why
	return e
}

func invalid(block, option, format string, args ...any) *configError {
	e := &configError{block: block, option: option}
	e.msg = e.name() + " " + fmt.Sprintf(format, args...)
	return e
}

// checkConfig is the pure check of the handler's configuration: required
// options, the form of every value and the options that go together. It
// reads no file and touches no network, so it runs both where the
// Caddyfile block is parsed (`fhir-pep adapt` refuses a broken block,
// naming the line) and first thing in Provision (for JSON configs), before
// anything costly. It sees the configuration as written, before defaults.
func (p *PEP) checkConfig() *configError {
	if e := absoluteURL("", "resource", p.Resource, true); e != nil {
		return e
	}
	if p.BasePath != "" && (!strings.HasPrefix(p.BasePath, "/") || strings.ContainsAny(p.BasePath, "?#%;")) {
		return invalid("", "base_path", "%q must be a plain absolute path", p.BasePath)
	}
	if e := absoluteURL("", "upstream_base", p.UpstreamBase, true); e != nil {
		return e
	}
	if e := absoluteURL("", "public_base", p.PublicBase, false); e != nil {
		return e
	}
	for _, n := range []struct {
		option string
		v      int64
	}{
		{"max_request_bytes", p.MaxRequestBytes},
		{"max_response_bytes", p.MaxResponseBytes},
		{"max_json_depth", int64(p.MaxJSONDepth)},
		{"clock_skew", int64(p.ClockSkew)},
		{"patient_cache_ttl", int64(p.PatientCacheTTL)},
	} {
		if n.v < 0 {
			return invalid("", n.option, "must be positive")
		}
	}
	for _, l := range p.ForbiddenLabels {
		if _, err := enforce.ParseLabel(l); err != nil {
			return invalid("", "forbidden_labels", "%q must be system|code", l)
		}
	}
	if p.Policy != nil && p.Policy.DecisionCache < -1 {
		return invalid("policy", "decision_cache", "must be -1 (off), 0 (default) or a positive number")
	}
	if p.Audit != nil {
		if e := p.Audit.check(); e != nil {
			return e
		}
	}
	if p.PatientResolver != nil {
		if e := p.PatientResolver.check(); e != nil {
			return e
		}
	}
	if p.UpstreamAssertion != nil {
		if e := p.UpstreamAssertion.check(); e != nil {
			return e
		}
	}
	if p.PCM == nil {
		return missing("", "pcm", " (PCM introspection: issuer, token_endpoint, introspection_endpoint, client_id, ca)")
	}
	return p.PCM.check()
}

func (c *PCMConfig) check() *configError {
	if c.Issuer == "" {
		return missing("pcm", "issuer", "")
	}
	bearer := true
	switch c.IntrospectionAuth {
	case "", "bearer":
	case "mtls":
		// No PEP token: the token endpoint and client id are not used.
		bearer = false
	default:
		return invalid("pcm", "introspection_auth", "%q is not bearer or mtls", c.IntrospectionAuth)
	}
	for _, u := range []struct {
		option, v string
		required  bool
	}{
		{"token_endpoint", c.TokenEndpoint, bearer},
		{"introspection_endpoint", c.IntrospectionEndpoint, true},
	} {
		if u.v == "" && !u.required {
			continue
		}
		if e := absoluteURL("pcm", u.option, u.v, true); e != nil {
			return e
		}
		if !strings.HasPrefix(u.v, "https://") {
			// The PEP's PCM token and the callers' tokens travel here.
			return invalid("pcm", u.option, "must use https")
		}
	}
	if c.ClientID == "" && bearer {
		return missing("pcm", "client_id", "")
	}
	if e := c.checkClaimSettings(); e != nil {
		return e
	}
	if c.CA == "" {
		return missing("pcm", "ca", " (PCM's server certificate is never checked against system roots)")
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		if c.ClientCert == "" {
			return missing("pcm", "client_cert", " with client_key (or neither, to use the ntn app's)")
		}
		return missing("pcm", "client_key", " with client_cert (or neither, to use the ntn app's)")
	}
	if e := absoluteURL("pcm", "token_resource", c.TokenResource, false); e != nil {
		return e
	}
	switch c.SigningAlgorithm {
	case "", "ES256", "ES384", "PS256", "RS256":
	default:
		return invalid("pcm", "signing_algorithm", "%q is not one of ES256, ES384, PS256, RS256", c.SigningAlgorithm)
	}
	for _, n := range []struct {
		option string
		v      int64
	}{
		{"timeout", int64(c.Timeout)},
		{"cache_ttl", int64(c.CacheTTL)},
		{"negative_cache_ttl", int64(c.NegativeCacheTTL)},
		{"cache_max_bytes", c.CacheMaxBytes},
	} {
		if n.v < 0 {
			return invalid("pcm", n.option, "must be positive")
		}
	}
	if c.Budget != nil {
		return c.Budget.check()
	}
	return nil
}

func (c *AuditConfig) check() *configError {
	if e := absoluteURL("audit", "audit_event_endpoint", c.AuditEventEndpoint, false); e != nil {
		return e
	}
	if (c.AuditEventClientCert == "") != (c.AuditEventClientKey == "") {
		if c.AuditEventClientCert == "" {
			return missing("audit", "audit_event_client_cert", " with audit_event_client_key")
		}
		return missing("audit", "audit_event_client_key", " with audit_event_client_cert")
	}
	if c.QueueSize < 0 {
		return invalid("audit", "queue_size", "must be positive")
	}
	return nil
}

// absoluteURL checks that v is an absolute http(s) URL; an empty v is an
// error only when the option is required.
func absoluteURL(block, option, v string, required bool) *configError {
	if v == "" {
		if required {
			return missing(block, option, "")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(block, option, "%q must be an absolute http(s) URL", v)
	}
	return nil
}
