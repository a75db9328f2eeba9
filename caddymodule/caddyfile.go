package caddymodule

import (
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
//	        dir     <dir>
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
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "resource":
			err = oneArg(d, &p.Resource)
		case "base_path":
			err = oneArg(d, &p.BasePath)
		case "realm":
			err = oneArg(d, &p.Realm)
		case "clock_skew":
			err = durationArg(d, &p.ClockSkew)
		case "max_request_bytes":
			err = sizeArg(d, &p.MaxRequestBytes)
		case "upstream_base":
			err = oneArg(d, &p.UpstreamBase)
		case "public_base":
			err = oneArg(d, &p.PublicBase)
		case "max_response_bytes":
			err = sizeArg(d, &p.MaxResponseBytes)
		case "max_json_depth":
			err = intArg(d, &p.MaxJSONDepth)
		case "annotate_withheld":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.AnnotateWithheld = true
		case "patient_cache_ttl":
			err = durationArg(d, &p.PatientCacheTTL)
		case "policy":
			p.Policy = new(PolicyConfig)
			err = p.Policy.unmarshalCaddyfile(d)
		case "audit":
			p.Audit = new(AuditConfig)
			err = p.Audit.unmarshalCaddyfile(d)
		case "pcm":
			p.PCM = new(PCMConfig)
			err = p.PCM.unmarshalCaddyfile(d)
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *PCMConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate pcm subdirective %q", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "issuer":
			err = oneArg(d, &c.Issuer)
		case "token_endpoint":
			err = oneArg(d, &c.TokenEndpoint)
		case "introspection_endpoint":
			err = oneArg(d, &c.IntrospectionEndpoint)
		case "client_id":
			err = oneArg(d, &c.ClientID)
		case "client_cert":
			err = oneArg(d, &c.ClientCert)
		case "client_key":
			err = oneArg(d, &c.ClientKey)
		case "ca":
			err = oneArg(d, &c.CA)
		case "scope":
			err = oneArg(d, &c.Scope)
		case "token_resource":
			err = oneArg(d, &c.TokenResource)
		case "signing_algorithm":
			err = oneArg(d, &c.SigningAlgorithm)
		case "timeout":
			err = durationArg(d, &c.Timeout)
		case "cache_ttl":
			err = durationArg(d, &c.CacheTTL)
		case "negative_cache_ttl":
			err = durationArg(d, &c.NegativeCacheTTL)
		case "cache_max_bytes":
			err = sizeArg(d, &c.CacheMaxBytes)
		default:
			return d.Errf("unrecognized pcm subdirective %q", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
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
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate policy subdirective %q", name)
		}
		seen[name] = true
		switch name {
		case "dir":
			if inline {
				return d.Err("policy directory given twice")
			}
			if err := oneArg(d, &c.Dir); err != nil {
				return err
			}
		case "dry_run":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.DryRun = true
		default:
			return d.Errf("unrecognized policy subdirective %q", name)
		}
	}
	return nil
}

func (c *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate audit subdirective %q", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "patient_hash_key":
			err = oneArg(d, &c.PatientHashKey)
		case "required":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Required = true
		case "audit_event_endpoint":
			err = oneArg(d, &c.AuditEventEndpoint)
		case "audit_event_ca":
			err = oneArg(d, &c.AuditEventCA)
		case "audit_event_client_cert":
			err = oneArg(d, &c.AuditEventClientCert)
		case "audit_event_client_key":
			err = oneArg(d, &c.AuditEventClientKey)
		case "queue_size":
			err = intArg(d, &c.QueueSize)
		case "data_source_member_id":
			err = oneArg(d, &c.DataSourceMemberID)
		default:
			return d.Errf("unrecognized audit subdirective %q", name)
		}
		if err != nil {
			return err
		}
	}
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
