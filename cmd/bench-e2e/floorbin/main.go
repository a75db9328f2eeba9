// Command floorbin is bin/fhir-pep plus the bench_floor yardstick
// (cmd/bench-e2e/floor), built by `bench-e2e -floor` into its scratch
// directory so that the plain, the floor and the fhir-pep sites run in one
// process. Never shipped.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/hdp-il/fhir-pep"
	_ "github.com/hdp-il/fhir-pep/cmd/bench-e2e/floor"
)

func main() { caddycmd.Main() }
