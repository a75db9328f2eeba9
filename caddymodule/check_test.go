package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// validBlock is a complete fhir_pep block; each case below breaks one line
// of it. Line numbers: 1 fhir_pep, 2 resource, 3 upstream_base, 4 pcm,
// 5 issuer, 6 token_endpoint, 7 introspection_endpoint, 8 client_id, 9 ca.
var validBlock = []string{
	"fhir_pep {",
	"	resource https://fhir.hmo-b.example/R4",
	"	upstream_base http://hapi.internal:8080/R4",
	"	pcm {",
	"		issuer https://pcm.example/",
	"		token_endpoint https://pcm.example/token",
	"		introspection_endpoint https://pcm.example/introspect",
	"		client_id sp-633",
	"		ca /etc/fhir-pep/pcm-ca.pem",
	"	}",
	"}",
}

// edit returns validBlock with line n (1-based) replaced by repl (nothing
// when repl is empty), plus any extra lines inserted before line n.
func edit(n int, repl string, extra ...string) string {
	out := append([]string{}, validBlock[:n-1]...)
	out = append(out, extra...)
	if repl != "" {
		out = append(out, repl)
	}
	out = append(out, validBlock[n:]...)
	return strings.Join(out, "\n")
}

// TestConfigErrors checks every message of checkConfig twice: from a
// Caddyfile (the message names the file and the line of the option, or of
// the block that lacks it) and from the same configuration as JSON (the
// same message, without a position: Provision's check).
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, caddyfile string
		want            string
		line            int
	}{
		{"missing resource", edit(2, ""), "fhir_pep: resource is required", 1},
		{"resource not a URL", edit(2, "	resource fhir-hmo-b"), `fhir_pep: resource "fhir-hmo-b" must be an absolute http(s) URL`, 2},
		{"missing upstream_base", edit(3, ""), "fhir_pep: upstream_base is required", 1},
		{"upstream_base not http", edit(3, "	upstream_base ftp://hapi/R4"), `fhir_pep: upstream_base "ftp://hapi/R4" must be an absolute http(s) URL`, 3},
		{"public_base relative", edit(3, "	upstream_base http://hapi.internal:8080/R4", "	public_base /R4"), `fhir_pep: public_base "/R4" must be an absolute http(s) URL`, 3},
		{"base_path relative", edit(2, "	resource https://fhir.hmo-b.example/R4", "	base_path R4"), `fhir_pep: base_path "R4" must be a plain absolute path`, 2},
		{"base_path with query", edit(2, "	resource https://fhir.hmo-b.example/R4", "	base_path /R4?x"), `fhir_pep: base_path "/R4?x" must be a plain absolute path`, 2},
		{"missing pcm block", strings.Join(append(append([]string{}, validBlock[:3]...), "}"), "\n"),
			"fhir_pep: pcm is required (PCM introspection: issuer, token_endpoint, introspection_endpoint, client_id, ca)", 1},
		{"missing pcm issuer", edit(5, ""), "fhir_pep: pcm issuer is required", 4},
		{"missing pcm token_endpoint", edit(6, ""), "fhir_pep: pcm token_endpoint is required", 4},
		{"pcm token_endpoint over http", edit(6, "		token_endpoint http://pcm.example/token"), "fhir_pep: pcm token_endpoint must use https", 6},
		{"missing pcm introspection_endpoint", edit(7, ""), "fhir_pep: pcm introspection_endpoint is required", 4},
		{"pcm introspection_endpoint not a URL", edit(7, "		introspection_endpoint introspect"), `fhir_pep: pcm introspection_endpoint "introspect" must be an absolute http(s) URL`, 7},
		{"missing pcm client_id", edit(8, ""), "fhir_pep: pcm client_id is required", 4},
		{"missing pcm ca", edit(9, ""), "fhir_pep: pcm ca is required (PCM's server certificate is never checked against system roots)", 4},
		{"pcm client_cert without client_key", edit(9, "		ca /etc/fhir-pep/pcm-ca.pem", "		client_cert /etc/fhir-pep/ntn.crt"),
			"fhir_pep: pcm client_key is required with client_cert (or neither, to use the ntn app's)", 4},
		{"pcm client_key without client_cert", edit(9, "		ca /etc/fhir-pep/pcm-ca.pem", "		client_key /etc/fhir-pep/ntn.key"),
			"fhir_pep: pcm client_cert is required with client_key (or neither, to use the ntn app's)", 4},
		{"pcm token_resource not a URL", edit(9, "		ca /etc/fhir-pep/pcm-ca.pem", "		token_resource pcm"), `fhir_pep: pcm token_resource "pcm" must be an absolute http(s) URL`, 9},
		{"pcm signing_algorithm", edit(9, "		ca /etc/fhir-pep/pcm-ca.pem", "		signing_algorithm HS256"), `fhir_pep: pcm signing_algorithm "HS256" is not one of ES256, ES384, PS256, RS256`, 9},
		{"audit endpoint not a URL", edit(3, "	upstream_base http://hapi.internal:8080/R4", "	audit {", "		audit_event_endpoint audit.internal", "	}"),
			`fhir_pep: audit audit_event_endpoint "audit.internal" must be an absolute http(s) URL`, 4},
		{"audit client cert without key", edit(3, "	upstream_base http://hapi.internal:8080/R4", "	audit {", "		audit_event_client_cert /etc/a.crt", "	}"),
			"fhir_pep: audit audit_event_client_key is required with audit_event_client_cert", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p PEP
			err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.caddyfile))
			want := tt.want + ", at Testfile:" + strconv.Itoa(tt.line)
			if err == nil || err.Error() != want {
				t.Fatalf("Caddyfile error\n got %v\nwant %s", err, want)
			}
			// The same configuration as JSON: the message without a position.
			raw, jerr := json.Marshal(&p)
			if jerr != nil {
				t.Fatal(jerr)
			}
			var fromJSON PEP
			if jerr := json.Unmarshal(raw, &fromJSON); jerr != nil {
				t.Fatal(jerr)
			}
			if e := fromJSON.checkConfig(); e == nil || e.Error() != tt.want {
				t.Fatalf("JSON error\n got %v\nwant %s", e, tt.want)
			}
		})
	}
}

// TestConfigErrorsJSONOnly covers the values a Caddyfile cannot express
// (the Caddyfile parser refuses them earlier) but a JSON config can.
func TestConfigErrorsJSONOnly(t *testing.T) {
	base := func() PEP {
		var p PEP
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(strings.Join(validBlock, "\n"))); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		edit func(*PEP)
		want string
	}{
		{"negative max_request_bytes", func(p *PEP) { p.MaxRequestBytes = -1 }, "fhir_pep: max_request_bytes must be positive"},
		{"negative max_response_bytes", func(p *PEP) { p.MaxResponseBytes = -1 }, "fhir_pep: max_response_bytes must be positive"},
		{"negative max_json_depth", func(p *PEP) { p.MaxJSONDepth = -1 }, "fhir_pep: max_json_depth must be positive"},
		{"negative clock_skew", func(p *PEP) { p.ClockSkew = -1 }, "fhir_pep: clock_skew must be positive"},
		{"negative patient_cache_ttl", func(p *PEP) { p.PatientCacheTTL = -1 }, "fhir_pep: patient_cache_ttl must be positive"},
		{"decision_cache below -1", func(p *PEP) { p.Policy = &PolicyConfig{DecisionCache: -2} },
			"fhir_pep: policy decision_cache must be -1 (off), 0 (default) or a positive number"},
		{"negative pcm timeout", func(p *PEP) { p.PCM.Timeout = caddy.Duration(-1) }, "fhir_pep: pcm timeout must be positive"},
		{"negative pcm cache_ttl", func(p *PEP) { p.PCM.CacheTTL = -1 }, "fhir_pep: pcm cache_ttl must be positive"},
		{"negative pcm negative_cache_ttl", func(p *PEP) { p.PCM.NegativeCacheTTL = -1 }, "fhir_pep: pcm negative_cache_ttl must be positive"},
		{"negative pcm cache_max_bytes", func(p *PEP) { p.PCM.CacheMaxBytes = -1 }, "fhir_pep: pcm cache_max_bytes must be positive"},
		{"negative audit queue_size", func(p *PEP) { p.Audit = &AuditConfig{QueueSize: -1} }, "fhir_pep: audit queue_size must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.edit(&p)
			if e := p.checkConfig(); e == nil || e.Error() != tt.want {
				t.Fatalf("got %v, want %s", e, tt.want)
			}
		})
	}
	p := base()
	if e := p.checkConfig(); e != nil {
		t.Fatalf("the valid block is refused: %v", e)
	}
}

// TestProvisionChecksFirst: a JSON config with a missing option fails with
// the option's name, before any file is read (the ca below does not exist,
// and the message is not about it).
func TestProvisionChecksFirst(t *testing.T) {
	p := &PEP{Resource: "https://fhir.example/R4", UpstreamBase: "http://hapi/R4", PCM: &PCMConfig{CA: "/nonexistent/ca.pem"}}
	err := p.Provision(caddy.Context{})
	if err == nil || err.Error() != "fhir_pep: pcm issuer is required" {
		t.Fatalf("Provision: %v", err)
	}
}

// A policy directory that does not exist is named in the error.
func TestMissingPolicyDirectoryNamesThePath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-such-policies")
	p := &PEP{Policy: &PolicyConfig{Dir: dir}}
	err := p.provisionPolicy()
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v does not name %s", err, dir)
	}
	if _, serr := os.Stat(dir); serr == nil {
		t.Fatal("test directory exists")
	}
}
