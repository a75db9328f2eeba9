package caddymodule

import (
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("fhir_pep", parseCaddyfile)
	// Before reverse_proxy (so no `order` line is needed) and after encode,
	// so the PEP sees and checks uncompressed upstream bodies.
	httpcaddyfile.RegisterDirectiveOrder("fhir_pep", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(PEP)
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return p, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	fhir_pep [<matcher>] {
//	    resource        <url>
//	    base_path       <path>
//	    realm           <realm>
//	    clock_skew      <duration>
//	    max_request_bytes  <size>
//	    upstream_base   <url>
//	    public_base     <url>
//	    max_response_bytes <size>
//	    max_json_depth  <n>
//	    annotate_withheld
//	    patient_cache_ttl <duration>
//	    policy [<dir>] {
//	        dir            <dir>
//	        decision_cache <n>
//	        dry_run
//	    }
//	    audit {
//	        patient_hash_key        <file>
//	        required
//	        audit_event_endpoint    <url>
//	        audit_event_ca          <pem_file>
//	        audit_event_client_cert <pem_file>
//	        audit_event_client_key  <pem_file>
//	        queue_size              <n>
//	        data_source_member_id   <member_id>
//	    }
//	    pcm {
//	        issuer                 <iss>
//	        token_endpoint         <url>
//	        introspection_endpoint <url>
//	        client_id              <client_id>
//	        client_cert            <pem_file>
//	        client_key             <pem_file>
//	        ca                     <pem_file>
//	        scope                  <scope>
//	        token_resource         <url>
//	        signing_algorithm      ES256|ES384|PS256|RS256
//	        timeout                <duration>
//	        cache_ttl              <duration>
//	        negative_cache_ttl     <duration>
//	        cache_max_bytes        <size>
//	    }
//	}
//
// Every subdirective may appear once; unknown subdirectives are errors.
func (p *PEP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseBlock(d, "", func(name string) error {
		switch name {
		case "resource":
			return oneArg(d, &p.Resource)
		case "base_path":
			return oneArg(d, &p.BasePath)
		case "realm":
			return oneArg(d, &p.Realm)
		case "clock_skew":
			return durationArg(d, &p.ClockSkew)
		case "max_request_bytes":
			return sizeArg(d, &p.MaxRequestBytes)
		case "upstream_base":
			return oneArg(d, &p.UpstreamBase)
		case "public_base":
			return oneArg(d, &p.PublicBase)
		case "max_response_bytes":
			return sizeArg(d, &p.MaxResponseBytes)
		case "max_json_depth":
			return intArg(d, &p.MaxJSONDepth)
		case "annotate_withheld":
			return flagArg(d, &p.AnnotateWithheld)
		case "patient_cache_ttl":
			return durationArg(d, &p.PatientCacheTTL)
		case "policy":
			p.Policy = new(PolicyConfig)
			return p.Policy.unmarshalCaddyfile(d)
		case "audit":
			p.Audit = new(AuditConfig)
			return p.Audit.unmarshalCaddyfile(d)
		case "pcm":
			p.PCM = new(PCMConfig)
			return p.PCM.unmarshalCaddyfile(d)
		}
		return errUnknownSubdirective
	})
}

func (c *PCMConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseBlock(d, "pcm ", func(name string) error {
		switch name {
		case "issuer":
			return oneArg(d, &c.Issuer)
		case "token_endpoint":
			return oneArg(d, &c.TokenEndpoint)
		case "introspection_endpoint":
			return oneArg(d, &c.IntrospectionEndpoint)
		case "client_id":
			return oneArg(d, &c.ClientID)
		case "client_cert":
			return oneArg(d, &c.ClientCert)
		case "client_key":
			return oneArg(d, &c.ClientKey)
		case "ca":
			return oneArg(d, &c.CA)
		case "scope":
			return oneArg(d, &c.Scope)
		case "token_resource":
			return oneArg(d, &c.TokenResource)
		case "signing_algorithm":
			return oneArg(d, &c.SigningAlgorithm)
		case "timeout":
			return durationArg(d, &c.Timeout)
		case "cache_ttl":
			return durationArg(d, &c.CacheTTL)
		case "negative_cache_ttl":
			return durationArg(d, &c.NegativeCacheTTL)
		case "cache_max_bytes":
			return sizeArg(d, &c.CacheMaxBytes)
		}
		return errUnknownSubdirective
	})
}

// unmarshalCaddyfile reads `policy <dir>` or a policy block.
func (c *PolicyConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	inline := false
	if d.NextArg() {
		c.Dir, inline = d.Val(), true
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return parseBlock(d, "policy ", func(name string) error {
		switch name {
		case "dir":
			if inline {
				return d.Err("policy directory given twice")
			}
			return oneArg(d, &c.Dir)
		case "dry_run":
			return flagArg(d, &c.DryRun)
		case "decision_cache":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return d.Errf("invalid decision_cache %q (a size, or -1 to disable)", v)
			}
			c.DecisionCache = n
			return nil
		}
		return errUnknownSubdirective
	})
}

func (c *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseBlock(d, "audit ", func(name string) error {
		switch name {
		case "patient_hash_key":
			return oneArg(d, &c.PatientHashKey)
		case "required":
			return flagArg(d, &c.Required)
		case "audit_event_endpoint":
			return oneArg(d, &c.AuditEventEndpoint)
		case "audit_event_ca":
			return oneArg(d, &c.AuditEventCA)
		case "audit_event_client_cert":
			return oneArg(d, &c.AuditEventClientCert)
		case "audit_event_client_key":
			return oneArg(d, &c.AuditEventClientKey)
		case "queue_size":
			return intArg(d, &c.QueueSize)
		case "data_source_member_id":
			return oneArg(d, &c.DataSourceMemberID)
		}
		return errUnknownSubdirective
	})
}

// errUnknownSubdirective is returned by parseBlock handlers for a name they
// do not know; parseBlock turns it into a positioned error.
var errUnknownSubdirective = errors.New("unknown subdirective")

// parseBlock walks the subdirectives of the block at the dispenser's
// current nesting. Each may appear once, and an unknown one is an error
// naming the file and line (a typo must never be silently ignored). block
// prefixes the errors ("pcm ").
func parseBlock(d *caddyfile.Dispenser, block string, handle func(name string) error) error {
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate %ssubdirective %q", block, name)
		}
		seen[name] = true
		if err := handle(name); err != nil {
			if errors.Is(err, errUnknownSubdirective) {
				return d.Errf("unrecognized %ssubdirective %q", block, name)
			}
			return err
		}
	}
	return nil
}

// flagArg sets a flag that takes no argument.
func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return d.Errf("invalid positive integer %q", s)
	}
	*dst = v
	return nil
}

// oneArg reads exactly one argument and nothing else on the line.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("invalid duration %q: %v", s, err)
	}
	if v <= 0 {
		return d.Errf("duration %q must be positive", s)
	}
	*dst = caddy.Duration(v)
	return nil
}

func sizeArg(d *caddyfile.Dispenser, dst *int64) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := humanize.ParseBytes(s)
	if err != nil || v == 0 || v > 1<<40 {
		return d.Errf("invalid size %q", s)
	}
	*dst = int64(v)
	return nil
}
