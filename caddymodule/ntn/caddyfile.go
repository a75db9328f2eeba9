package ntn

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("ntn", parseOption)
}

// parseOption parses the global option
//
//	ntn { ... }
//
// into the ntn app (see App.UnmarshalCaddyfile for the syntax).
func parseOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		d.Next() // for the error's file and line
		return nil, d.Err("the ntn global option may only appear once")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "ntn", Value: caddyconfig.JSON(app, nil)}, nil
}

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
// subdirective takes exactly one argument and may appear once; an unknown
// or repeated one is an error naming its line. Placeholders such as
// {env.NTN_API_URL} are replaced at provision time.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	block, err := caddyblock.Parse(d, "ntn", caddyblock.Handlers{
		"manifest_url":  caddyblock.String(&a.ManifestURL),
		"api_url":       caddyblock.String(&a.APIURL),
		"file":          caddyblock.String(&a.File),
		"trust_anchor":  caddyblock.String(&a.TrustAnchor),
		"client_cert":   caddyblock.String(&a.ClientCert),
		"client_key":    caddyblock.String(&a.ClientKey),
		"server_ca":     caddyblock.String(&a.ServerCA),
		"state_dir":     caddyblock.String(&a.StateDir),
		"refresh":       caddyblock.Duration(&a.Refresh),
		"max_staleness": caddyblock.Duration(&a.MaxStaleness),
		"timeout":       caddyblock.Duration(&a.Timeout),
	})
	if err != nil {
		return err
	}
	// The cross-option checks run after the whole block is read; the error
	// still names the line of the option at fault ("ntn refresh 1s" names
	// the refresh line), or the ntn line when an option is missing.
	if option, err := a.checkConfig(); err != nil {
		return block.Errf(option, "%v", optionError(option, err))
	}
	return nil
}
