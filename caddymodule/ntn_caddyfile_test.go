package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var updateNTNGolden = flag.Bool("ntn.update", false, "rewrite the JSON of testdata/ntn/caddyfile_adapt golden files")

func TestNTNCaddyfileUnmarshal(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  NTNApp
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
			want: NTNApp{
				APIURL: "https://ntn.example.gov.il/api/manifest", TrustAnchor: "/etc/fhir-pep/ntn-ta.pem",
				ClientCert: "/etc/fhir-pep/ntn.crt", ClientKey: "/etc/fhir-pep/ntn.key", ServerCA: "/etc/fhir-pep/ntn-server-ca.pem",
				Refresh: caddy.Duration(5 * time.Minute), MaxStaleness: caddy.Duration(24 * time.Hour),
				Timeout: caddy.Duration(20 * time.Second), StateDir: "/var/lib/fhir-pep",
			},
		},
		{
			name:  "manifest_url",
			input: "ntn {\n manifest_url https://ntn.example/m.jws\n trust_anchor ta.pem\n client_cert c.pem\n client_key k.pem\n}",
			want:  NTNApp{ManifestURL: "https://ntn.example/m.jws", TrustAnchor: "ta.pem", ClientCert: "c.pem", ClientKey: "k.pem"},
		},
		{
			name:  "file with a placeholder",
			input: "ntn {\n file {env.NTN_MANIFEST}\n trust_anchor ta.pem\n}",
			want:  NTNApp{File: "{env.NTN_MANIFEST}", TrustAnchor: "ta.pem"},
		},
		{name: "unknown subdirective", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refersh 5m\n}", err: `unrecognized subdirective "refersh"`},
		{name: "duplicate subdirective", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 5m\n refresh 10m\n}", err: `duplicate subdirective "refresh"`},
		{name: "duplicate source", input: "ntn {\n file a.jws\n file b.jws\n trust_anchor ta.pem\n}", err: `duplicate subdirective "file"`},
		{name: "bad duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh soon\n}", err: "refresh:"},
		{name: "zero duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n timeout 0s\n}", err: "timeout must be positive"},
		{name: "negative duration", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n max_staleness -1h\n}", err: "max_staleness must be positive"},
		{name: "refresh below minimum", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1s\n}", err: "refresh must be at least 10s"},
		{name: "max_staleness below refresh", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1h\n max_staleness 10m\n}", err: "max_staleness must be at least refresh"},
		{name: "timeout above refresh", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n refresh 1m\n timeout 2m\n}", err: "timeout must not exceed refresh"},
		{name: "missing argument", input: "ntn {\n file\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "two arguments", input: "ntn {\n file a.jws b.jws\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "block under a subdirective", input: "ntn {\n file m.jws {\n  x\n }\n trust_anchor ta.pem\n}", err: "file does not take a block"},
		{name: "empty block under a subdirective", input: "ntn {\n file m.jws {\n }\n trust_anchor ta.pem\n}", err: "file does not take a block"},
		{name: "argument on the option", input: "ntn https://ntn.example {\n trust_anchor ta.pem\n}", err: "wrong argument count"},
		{name: "no source", input: "ntn {\n trust_anchor ta.pem\n}", err: "exactly one of manifest_url, api_url and file"},
		{name: "two sources", input: "ntn {\n file m.jws\n api_url https://ntn.example/api\n trust_anchor ta.pem\n client_cert c\n client_key k\n}", err: "exactly one of"},
		{name: "no trust anchor", input: "ntn {\n file m.jws\n}", err: "trust_anchor is required"},
		{name: "URL without client certificate", input: "ntn {\n api_url https://ntn.example/api\n trust_anchor ta.pem\n}", err: "need client_cert and client_key"},
		{name: "client_cert without client_key", input: "ntn {\n api_url https://ntn.example/api\n trust_anchor ta.pem\n client_cert c\n}", err: "client_cert and client_key go together"},
		{name: "server_ca with file", input: "ntn {\n file m.jws\n trust_anchor ta.pem\n server_ca ca.pem\n}", err: "server_ca only applies"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got NTNApp
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

func TestNTNVerifierCaddyfile(t *testing.T) {
	cases := []struct{ name, input, err string }{
		{"bare", "ntn", ""},
		{"argument", "ntn strict", "wrong argument count"},
		{"block", "ntn {\n mode strict\n}", `unrecognized subdirective "mode"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v NTNVerifier
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

// TestNTNCaddyfileAdapt runs the golden files in testdata/ntn/caddyfile_adapt,
// in the format of the package's other golden files: a Caddyfile, a line of
// dashes, then either the expected JSON or a fragment of the expected error.
func TestNTNCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/ntn/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(string(data), "----------")
			if len(parts) != 2 {
				t.Fatalf("want exactly one separator, got %d parts", len(parts))
			}
			input, expected := strings.TrimSpace(parts[0])+"\n", strings.TrimSpace(parts[1])
			if strings.HasPrefix(expected, "{") {
				if *updateNTNGolden {
					out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
					if err != nil {
						t.Fatal(err)
					}
					var pretty bytes.Buffer
					if err := json.Indent(&pretty, out, "", "\t"); err != nil {
						t.Fatal(err)
					}
					writeFile(t, file, []byte(parts[0]+"----------\n"+pretty.String()+"\n"))
					return
				}
				if !caddytest.CompareAdapt(t, file, input, "caddyfile", expected) {
					t.Errorf("adapted JSON differs from %s", file)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
			if err == nil || !strings.Contains(err.Error(), expected) {
				t.Fatalf("error = %v, want one containing %q", err, expected)
			}
		})
	}
}
