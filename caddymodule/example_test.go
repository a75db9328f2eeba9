package caddymodule

import (
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	// Caddyfile.example uses the fhir_query access-log filter.
	_ "github.com/hdp-il/fhir-pep/caddymodule/accesslog"
)

// TestCaddyfileExampleAdapts keeps the shipped Caddyfile.example valid:
// `fhir-pep adapt --config Caddyfile.example` must succeed without warnings.
func TestCaddyfileExampleAdapts(t *testing.T) {
	data, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	if len(warnings) > 0 {
		t.Fatalf("adapt warnings: %v", warnings)
	}
	if len(out) == 0 {
		t.Fatal("empty config")
	}
}
