// Package fhirpep is the import path xcaddy builds with
// (`xcaddy build --with github.com/hdp-il/fhir-pep`): importing it registers
// every fhir-pep Caddy module. The code lives in the subpackages; see
// README.md.
package fhirpep

import (
	// Registers http.handlers.fhir_pep and http.handlers.fhir_pep_health
	// (Caddyfile directives fhir_pep and fhir_pep_health) and the policy
	// command.
	_ "github.com/hdp-il/fhir-pep/caddymodule"
	// Registers caddy.logging.encoders.filter.fhir_query (access logs
	// without query values, tokens or national ids).
	_ "github.com/hdp-il/fhir-pep/caddymodule/accesslog"
	// Registers the ntn app (the ntn global option), the
	// tls.client_auth.verifier.ntn module and the ntn command. The handler
	// finds the app through Caddy's app registry, so neither package
	// imports the other and both must be linked in here.
	_ "github.com/hdp-il/fhir-pep/caddymodule/ntn"
)
