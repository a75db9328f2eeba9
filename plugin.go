// Package fhirpep is the import path xcaddy builds with
// (`xcaddy build --with github.com/hdp-il/fhir-pep`): importing it registers
// every fhir-pep Caddy module. The code lives in the subpackages; see
// README.md.
package fhirpep

import (
	// Registers http.handlers.fhir_pep, the ntn app and the
	// tls.client_auth.verifier.ntn module.
	_ "github.com/hdp-il/fhir-pep/caddymodule"
)
