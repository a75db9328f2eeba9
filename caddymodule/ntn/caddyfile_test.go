package ntn

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	// The golden files use respond and tls client_auth.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/hdp-il/fhir-pep/internal/adapttest"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the expected JSON of the adapt golden files")

func TestCaddyfileUnmarshal(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  App
		err   string
	}{
		{
			name: "api_url with everything",
			input: `ntn {
				api_url       https://ntn.example.gov.il/api/manifest
				trust_anchor  /etc/fhir-pep/ntn-ta.pem
				client_cert   /etc/fhir-pep/ntn.crt
				client_key    /etc/fhir-pep/ntn.key
				server_ca     /etc/fhir-pep/ntn-server-ca.pem
				refresh       5m
				max_staleness 1d
				timeout       20s
				state_dir     /var/lib/fhir-pep
			}`,
			want: App{
				APIURL: "https://ntn.example.gov.il/api/manifest", TrustAnchor: "/etc/fhir-pep/ntn-ta.pem",
				ClientCert: "/etc/fhir-pep/ntn.crt", ClientKey: "/etc/fhir-pep/ntn.key", ServerCA: "/etc/fhir-pep/ntn-server-ca.pem",
				Refresh: caddy.Duration(5 * time.Minute), MaxStaleness: caddy.Duration(24 * time.Hour),
				Timeout: caddy.Duration(20 * time.Second), StateDir: "/var/lib/fhir-pep",
			},
		},
		{
			name:  "manifest_url",
			input: "ntn {\n manifest_url https://ntn.example/m.jws\n trust_anchor ta.pem\n client_cert c.pem\n client_key k.pem\n}",
			want:  App{ManifestURL: "https://ntn.example/m.jws", TrustAnchor: "ta.pem", ClientCert: "c.pem", ClientKey: "k.pem"},
		},
		{
			name:  "file with a placeholder",
			input: "ntn {\n file {env.NTN_MANIFEST}\n trust_anchor ta.pem\n}",
			want:  App{File: "{env.NTN_MANIFEST}", TrustAnchor: "ta.pem"},
		},
		{name: "unknown subdirective", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refersh 5m\n}", err: `unrecognized ntn subdirective "refersh"; did you mean "refresh"?, at Testfile:4`},
		{name: "duplicate subdirective", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 5m\n refresh 10m\n}", err: `duplicate ntn subdirective "refresh" (first at line 4), at Testfile:5`},
		{name: "duplicate source", input: "ntn {\n file a.jws\n file b.jws\n trust_anchor ta.pem\n}", err: `duplicate ntn subdirective "file"`},
		{name: "bad duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh soon\n}", err: `refresh: invalid duration "soon"`},
		{name: "zero duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n timeout 0s\n}", err: `timeout: duration "0s" must be positive, at Testfile:4`},
		{name: "negative duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n max_staleness -1h\n}", err: `max_staleness: duration "-1h" must be positive, at Testfile:4`},
		{name: "refresh below minimum", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1s\n}", err: "ntn refresh: must be at least 10s, at Testfile:4"},
		{name: "max_staleness below refresh", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1h\n max_staleness 10m\n}", err: "ntn max_staleness: must be at least refresh, or the manifest goes stale between refreshes, at Testfile:5"},
		{name: "timeout above refresh", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1m\n timeout 2m\n}", err: "ntn timeout: must not exceed refresh, at Testfile:5"},
		{name: "missing argument", input: "ntn {\n file\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "two arguments", input: "ntn {\n file a.jws b.jws\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "block under a subdirective", input: "ntn {\n file m.jws {\n  x\n }\n trust_anchor ta.pem\n}", err: "file does not take a block"},
		{name: "empty block under a subdirective", input: "ntn {\n file m.jws {\n }\n trust_anchor ta.pem\n}", err: "file does not take a block"},
		{name: "argument on the option", input: "ntn https://ntn.example {\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "no source", input: "ntn {\n trust_anchor ta.pem\n}", err: "ntn: one of manifest_url, api_url and file is required, at Testfile:1"},
		{name: "two sources", input: "ntn {\n file m.jws\n api_url https://ntn.example/api\n trust_anchor ta.pem\n client_cert c\n client_key k\n}", err: "ntn file: only one of manifest_url, api_url and file may be set (api_url is set too), at Testfile:2"},
		{name: "no trust anchor", input: "ntn {\n file m.jws\n}", err: "ntn trust_anchor: is required, at Testfile:1"},
		{name: "URL without client certificate", input: "ntn {\n api_url https://ntn.example/api\n trust_anchor ta.pem\n}", err: "ntn api_url: needs client_cert and client_key (NTN requires mTLS), at Testfile:2"},
		{name: "client_cert without client_key", input: "ntn {\n api_url https://ntn.example/api\n trust_anchor ta.pem\n client_cert c\n}", err: "ntn client_cert: needs client_key, at Testfile:4"},
		{name: "server_ca with file", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n server_ca ca.pem\n}", err: "ntn server_ca: only applies to manifest_url and api_url, at Testfile:4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got App
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.err)) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(mustJSON(t, got)) != string(mustJSON(t, tc.want)) {
				t.Fatalf("got %s\nwant %s", mustJSON(t, got), mustJSON(t, tc.want))
			}
		})
	}
}

func TestVerifierCaddyfile(t *testing.T) {
	cases := []struct{ name, input, err string }{
		{"bare", "ntn", ""},
		{"argument", "ntn strict", "wrong argument count"},
		{"block", "ntn {\n mode strict\n}", `unrecognized verifier ntn subdirective "mode", at Testfile:2`},
		{"empty block", "ntn {\n}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v Verifier
			err := v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.err)) {
				t.Fatalf("error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestCaddyfileAdapt runs the golden files in testdata/caddyfile_adapt.
func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata/caddyfile_adapt", *updateGolden)
}
