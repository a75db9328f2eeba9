// Command fhir-pep is Caddy with its standard modules and the fhir-pep
// modules compiled in. It is what `xcaddy build --with
// github.com/hdp-il/fhir-pep` produces, for machines without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, as in the official caddy binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The fhir-pep modules: http.handlers.fhir_pep, the ntn app and the
	// tls.client_auth.verifier.ntn client certificate verifier.
	_ "github.com/hdp-il/fhir-pep"
)

func main() {
	caddycmd.Main()
}
