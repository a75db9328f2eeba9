package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the ntn app from the global option. Syntax:
//
//	ntn {
//		manifest_url  <https-url>
//		api_url       <https-url>
//		file          <path>
//		trust_anchor  <pem-file>
//		client_cert   <pem-file>
//		client_key    <pem-file>
//		server_ca     <pem-file>
//		refresh       <duration>
//		max_staleness <duration>
//		timeout       <duration>
//		state_dir     <directory>
//	}
//
// Exactly one of manifest_url, api_url and file is required, and so is
// trust_anchor; manifest_url and api_url also need client_cert and
// client_key. Defaults: refresh 5m (minimum 10s), max_staleness 24h (at
// least refresh), timeout 30s (at most refresh), server_ca the system
// roots, state_dir "fhir-pep/ntn" in Caddy's data directory. Every
// subdirective takes exactly one argument and may appear once.
// Placeholders such as {env.NTN_API_URL} are replaced at provision time.
func (a *NTNApp) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	textFields := map[string]*string{
		"manifest_url": &a.ManifestURL,
		"api_url":      &a.APIURL,
		"file":         &a.File,
		"trust_anchor": &a.TrustAnchor,
		"client_cert":  &a.ClientCert,
		"client_key":   &a.ClientKey,
		"server_ca":    &a.ServerCA,
		"state_dir":    &a.StateDir,
	}
	durationFields := map[string]*caddy.Duration{
		"refresh":       &a.Refresh,
		"max_staleness": &a.MaxStaleness,
		"timeout":       &a.Timeout,
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		strField, isString := textFields[name]
		durField, isDuration := durationFields[name]
		if !isString && !isDuration {
			return d.Errf("unrecognized subdirective %q", name)
		}
		if seen[name] {
			return d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		var val string
		if !d.AllArgs(&val) {
			return d.ArgErr()
		}
		// NextBlock also swallows an empty "{ }"; a moved cursor reveals it.
		argLine, argVal := d.Line(), d.Val()
		if d.NextBlock(nesting+1) || d.Line() != argLine || d.Val() != argVal {
			return d.Errf("%s does not take a block", name)
		}
		if isString {
			*strField = val
			continue
		}
		dur, err := caddy.ParseDuration(val)
		if err != nil {
			return d.Errf("%s: %v", name, err)
		}
		if dur <= 0 {
			return d.Errf("%s must be positive", name)
		}
		*durField = caddy.Duration(dur)
	}
	if err := a.checkConfig(); err != nil {
		return d.Errf("ntn: %v", err)
	}
	return nil
}
