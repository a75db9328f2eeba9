package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/patient"
)

// PatientResolverConfig chooses how the token's national id becomes the
// upstream Patient's logical id: "fhir" (the default) searches the
// upstream (POST Patient/_search, identifier in the body); "national" asks
// the national patient-resolution service (POST <url>/api/v1/resolve) with
// HTTP Basic or mTLS.
type PatientResolverConfig struct {
	// Kind is "fhir" or "national". Default: "fhir".
	Kind string `json:"kind,omitempty"`
	// URL is the national resolve service's base URL (national only).
	URL string `json:"url,omitempty"`
	// BasicUser and BasicPasswordFile authenticate with HTTP Basic; the
	// password is read from the file (trailing newline trimmed).
	BasicUser         string `json:"basic_user,omitempty"`
	BasicPasswordFile string `json:"basic_password_file,omitempty"`
	// ClientCert and ClientKey are PEM files for mTLS; CA a PEM file of
	// the service's CA (default: system roots).
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	CA         string `json:"ca,omitempty"`
	// Timeout of one resolve call. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

const (
	resolverFHIR     = "fhir"
	resolverNational = "national"
)

// patientResolver is what the request path needs from a resolver; both
// patient.Resolver and patient.NationalResolver are one.
type patientResolver interface {
	Resolve(ctx context.Context, fetch patient.Fetcher, system, value string) ([]string, error)
}

// unmarshalCaddyfile reads `patient_resolver fhir` or
// `patient_resolver national { ... }`.
func (c *PatientResolverConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if !d.NextArg() {
		return nil, d.Err("patient_resolver needs a kind: fhir or national")
	}
	c.Kind = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return caddyblock.Parse(d, "patient_resolver", caddyblock.Handlers{
		"url":                 caddyblock.String(&c.URL),
		"basic_user":          caddyblock.String(&c.BasicUser),
		"basic_password_file": caddyblock.String(&c.BasicPasswordFile),
		"client_cert":         caddyblock.String(&c.ClientCert),
		"client_key":          caddyblock.String(&c.ClientKey),
		"ca":                  caddyblock.String(&c.CA),
		"timeout":             caddyblock.Duration(&c.Timeout),
	})
}

// check is the pure part of the configuration check.
func (c *PatientResolverConfig) check() *configError {
	const b = "patient_resolver"
	switch c.Kind {
	case "", resolverFHIR:
		for _, o := range []struct{ option, v string }{
			{"url", c.URL}, {"basic_user", c.BasicUser}, {"basic_password_file", c.BasicPasswordFile},
			{"client_cert", c.ClientCert}, {"client_key", c.ClientKey}, {"ca", c.CA},
		} {
			if o.v != "" {
				return invalid(b, o.option, "applies only to patient_resolver national")
			}
		}
		return nil
	case resolverNational:
	default:
		return invalid(b, "kind", "%q is not fhir or national", c.Kind)
	}
	if c.URL == "" {
		return missing(b, "url", " (the national resolve service's base URL)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return invalid(b, "url", "%q must be an absolute http(s) URL", c.URL)
	}
	if (c.BasicUser == "") != (c.BasicPasswordFile == "") {
		if c.BasicUser == "" {
			return missing(b, "basic_user", " with basic_password_file")
		}
		return missing(b, "basic_password_file", " with basic_user")
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		if c.ClientCert == "" {
			return missing(b, "client_cert", " with client_key")
		}
		return missing(b, "client_key", " with client_cert")
	}
	if c.BasicUser == "" && c.ClientCert == "" {
		return missing(b, "basic_user", " or client_cert (the resolve service needs HTTP Basic or mTLS)")
	}
	if c.Timeout < 0 {
		return invalid(b, "timeout", "must be positive")
	}
	return nil
}

// newPatientResolver builds the configured resolver; nil config means the
// FHIR-search resolver.
func newPatientResolver(c *PatientResolverConfig, cache patient.Config) (patientResolver, error) {
	if c == nil || c.Kind == "" || c.Kind == resolverFHIR {
		return patient.NewResolver(cache), nil
	}
	read := func(option, file string) ([]byte, error) {
		if file == "" {
			return nil, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("patient_resolver %s: %w", option, err)
		}
		return b, nil
	}
	cert, err := read("client_cert", c.ClientCert)
	if err != nil {
		return nil, err
	}
	key, err := read("client_key", c.ClientKey)
	if err != nil {
		return nil, err
	}
	ca, err := read("ca", c.CA)
	if err != nil {
		return nil, err
	}
	password, err := read("basic_password_file", c.BasicPasswordFile)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := patient.ClientTLS(cert, key, ca)
	if err != nil {
		return nil, err
	}
	r, err := patient.NewNationalResolver(patient.NationalConfig{
		Config:        cache,
		URL:           c.URL,
		BasicUser:     c.BasicUser,
		BasicPassword: string(bytes.TrimRight(password, "\r\n")),
		TLS:           tlsCfg,
		Timeout:       time.Duration(c.Timeout),
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
