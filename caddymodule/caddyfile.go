package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
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
//	    forbidden_labels <system|code>...
//	    patient_cache_ttl <duration>
//	    paging {
//	        key_file          <file>
//	        previous_key_file <file>
//	        ttl               <duration>
//	    }
//	    limits {
//	        max_params           <n>
//	        max_values_per_param <n>
//	        max_values           <n>
//	        max_header_fields    <n>
//	    }
//	    search_params {
//	        <ResourceType|*> <name> <type> [<target_type>...]
//	    }
//	    patient_resolver fhir|national {
//	        url                 <url>
//	        basic_user          <user>
//	        basic_password_file <file>
//	        client_cert         <pem_file>
//	        client_key          <pem_file>
//	        ca                  <pem_file>
//	        timeout             <duration>
//	    }
//	    upstream_assertion {
//	        key    <pem_file>
//	        issuer <iss>
//	        header <header>
//	    }
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
//	        require_consent        on|off
//	        cnf_required           on|off
//	        organization_check     on|off
//	        patient_systems        <system...>
//	        introspection_auth     bearer|mtls
//	        budget {
//	            member_rate      <calls_per_second>|off
//	            member_burst     <n>
//	            member_in_flight <n>|off
//	            total_rate       <calls_per_second>|off
//	            total_burst      <n>
//	            total_in_flight  <n>|off
//	        }
//	    }
//	}
//
// Every subdirective may appear once; unknown subdirectives are errors.
// resource, upstream_base and pcm's issuer, token_endpoint,
// introspection_endpoint, client_id and ca are required (token_endpoint and
// client_id not with introspection_auth mtls). Once the block is
// read, the whole configuration is checked (checkConfig) and a mistake is
// reported at the line of the option, or of the block that lacks it.
func (p *PEP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	// blocks records where each (nested) block stands, for checkConfig's
	// messages.
	blocks := map[string]*caddyblock.Block{}
	nested := func(name string, parse func(*caddyfile.Dispenser) (*caddyblock.Block, error)) func(*caddyfile.Dispenser) error {
		return func(d *caddyfile.Dispenser) error {
			b, err := parse(d)
			blocks[name] = b
			return err
		}
	}
	top, err := caddyblock.Parse(d, "", caddyblock.Handlers{
		"resource":           caddyblock.String(&p.Resource),
		"base_path":          caddyblock.String(&p.BasePath),
		"realm":              caddyblock.String(&p.Realm),
		"clock_skew":         caddyblock.Duration(&p.ClockSkew),
		"max_request_bytes":  caddyblock.Size(&p.MaxRequestBytes),
		"upstream_base":      caddyblock.String(&p.UpstreamBase),
		"public_base":        caddyblock.String(&p.PublicBase),
		"max_response_bytes": caddyblock.Size(&p.MaxResponseBytes),
		"max_json_depth":     caddyblock.PositiveInt(&p.MaxJSONDepth),
		"annotate_withheld":  caddyblock.Flag(&p.AnnotateWithheld),
		"forbidden_labels":   caddyblock.Strings(&p.ForbiddenLabels),
		"patient_cache_ttl":  caddyblock.Duration(&p.PatientCacheTTL),
		"paging":             nested("paging", p.requestChecks.unmarshalPaging),
		"limits":             nested("limits", p.requestChecks.unmarshalLimits),
		"search_params":      p.requestChecks.unmarshalSearchParams,
		"patient_resolver": nested("patient_resolver", func(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
			p.PatientResolver = new(PatientResolverConfig)
			return p.PatientResolver.unmarshalCaddyfile(d)
		}),
		"upstream_assertion": nested("upstream_assertion", func(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
			p.UpstreamAssertion = new(UpstreamAssertionConfig)
			return p.UpstreamAssertion.unmarshalCaddyfile(d)
		}),
		"policy": nested("policy", func(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
			p.Policy = new(PolicyConfig)
			return p.Policy.unmarshalCaddyfile(d)
		}),
		"audit": nested("audit", func(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
			p.Audit = new(AuditConfig)
			return p.Audit.unmarshalCaddyfile(d)
		}),
		"pcm": nested("pcm", func(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
			p.PCM = new(PCMConfig)
			return p.PCM.unmarshalCaddyfile(d)
		}),
	})
	if err != nil {
		return err
	}
	if e := p.checkConfig(); e != nil {
		b, ok := blocks[e.block]
		if !ok {
			// The option's block is absent: report it at the line of the
			// fhir_pep block, naming the missing block's option.
			b = top
		}
		return b.Errf(e.option, "%s", e.Error())
	}
	return nil
}

func (c *PCMConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return caddyblock.Parse(d, "pcm", caddyblock.Handlers{
		"issuer":                 caddyblock.String(&c.Issuer),
		"token_endpoint":         caddyblock.String(&c.TokenEndpoint),
		"introspection_endpoint": caddyblock.String(&c.IntrospectionEndpoint),
		"client_id":              caddyblock.String(&c.ClientID),
		"client_cert":            caddyblock.String(&c.ClientCert),
		"client_key":             caddyblock.String(&c.ClientKey),
		"ca":                     caddyblock.String(&c.CA),
		"scope":                  caddyblock.String(&c.Scope),
		"token_resource":         caddyblock.String(&c.TokenResource),
		"signing_algorithm":      caddyblock.String(&c.SigningAlgorithm),
		"timeout":                caddyblock.Duration(&c.Timeout),
		"cache_ttl":              caddyblock.Duration(&c.CacheTTL),
		"negative_cache_ttl":     caddyblock.Duration(&c.NegativeCacheTTL),
		"cache_max_bytes":        caddyblock.Size(&c.CacheMaxBytes),
		"require_consent":        onOff(&c.RequireConsent),
		"cnf_required":           onOff(&c.CNFRequired),
		"organization_check":     onOff(&c.OrganizationCheck),
		"patient_systems":        caddyblock.Strings(&c.PatientSystems),
		"introspection_auth":     caddyblock.String(&c.IntrospectionAuth),
		"budget": func(d *caddyfile.Dispenser) error {
			c.Budget = new(PCMBudget)
			return c.Budget.unmarshalCaddyfile(d)
		},
	})
}

// unmarshalCaddyfile reads `policy <dir>` or a policy block.
func (c *PolicyConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	inline := false
	if d.NextArg() {
		c.Dir, inline = d.Val(), true
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	return caddyblock.Parse(d, "policy", caddyblock.Handlers{
		"dir": func(d *caddyfile.Dispenser) error {
			if inline {
				return d.Err("policy directory given twice")
			}
			return caddyblock.String(&c.Dir)(d)
		},
		"dry_run": caddyblock.Flag(&c.DryRun),
		"decision_cache": func(d *caddyfile.Dispenser) error {
			var v string
			if err := caddyblock.String(&v)(d); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return d.Errf("invalid decision_cache %q (a size, or -1 to disable)", v)
			}
			c.DecisionCache = n
			return nil
		},
	})
}

func (c *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return caddyblock.Parse(d, "audit", caddyblock.Handlers{
		"patient_hash_key":        caddyblock.String(&c.PatientHashKey),
		"required":                caddyblock.Flag(&c.Required),
		"audit_event_endpoint":    caddyblock.String(&c.AuditEventEndpoint),
		"audit_event_ca":          caddyblock.String(&c.AuditEventCA),
		"audit_event_client_cert": caddyblock.String(&c.AuditEventClientCert),
		"audit_event_client_key":  caddyblock.String(&c.AuditEventClientKey),
		"queue_size":              caddyblock.PositiveInt(&c.QueueSize),
		"data_source_member_id":   caddyblock.String(&c.DataSourceMemberID),
	})
}
