package caddymodule

import (
	"flag"
	"testing"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// fhir_pep_full uses the ntn global option and verifier.
	_ "github.com/hdp-il/fhir-pep/caddymodule/ntn"
	"github.com/hdp-il/fhir-pep/internal/adapttest"
)

// TestCaddyfileAdapt runs the golden files in testdata/caddyfile_adapt, in
// the format of Caddy's own caddytest/integration suite: a Caddyfile, a line
// of dashes, then either the expected JSON or a fragment of the expected
// error (which must name the file and line).
var updateGolden = flag.Bool("update-golden", false, "rewrite the expected JSON of the adapt golden files")

func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata/caddyfile_adapt", *updateGolden)
}
