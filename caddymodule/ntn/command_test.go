package ntn

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

func TestCommandVerify(t *testing.T) {
	env := newTestEnv(t)
	var out bytes.Buffer
	if err := runVerify(&out, env.manifestFile, env.taFile, ntntest.Epoch); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"manifest:        OK",
		"version:         1",
		"issued_at:       2026-11-22T09:00:00Z",
		"expires_at:      2026-11-23T10:00:00Z (in 24h0m0s)",
		"algorithm:       ES256",
		"signer:          CN=NTN Test Download,O=fhir-pep test",
		"members:         3 (2 active)",
		"MEMBER_ID  STATUS     TLS  CA  NAME",
		"org-a      active     2    0   Member org-a",
		"org-b      active     0    1   Member org-b",
		"org-c      suspended  1    0   Member org-c",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestCommandVerifyRejects(t *testing.T) {
	env := newTestEnv(t)
	otherTA := filepath.Join(env.dir, "other-ta.pem")
	writeFile(t, otherTA, ntntest.CertPEM(ntntest.NewPKI(t, ntntest.ECDSAP256).TrustAnchor.Cert))
	garbage := filepath.Join(env.dir, "garbage.jws")
	writeFile(t, garbage, []byte("not a manifest"))
	cases := []struct {
		name, file, ta string
		at             time.Time
		want           string
	}{
		{"wrong trust anchor", env.manifestFile, otherTA, ntntest.Epoch, "reason chain"},
		{"expired manifest", env.manifestFile, env.taFile, ntntest.Epoch.Add(48 * time.Hour), "reason expired"},
		{"garbage", garbage, env.taFile, ntntest.Epoch, "reason format"},
		{"no trust anchor flag", env.manifestFile, "", ntntest.Epoch, "--trust-anchor is required"},
		{"trust anchor not PEM", env.manifestFile, garbage, ntntest.Epoch, "--trust-anchor " + garbage + ": no PEM certificate"},
		{"missing trust anchor", env.manifestFile, filepath.Join(env.dir, "nope.pem"), ntntest.Epoch, "--trust-anchor: open "},
		{"missing file", filepath.Join(env.dir, "nope.jws"), env.taFile, ntntest.Epoch, "manifest: open "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runVerify(&out, tc.file, tc.ta, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed a summary for a rejected manifest: %s", out.String())
			}
		})
	}
}

func TestCommandRegistered(t *testing.T) {
	cmd, ok := caddycmd.Commands()["ntn"]
	if !ok || cmd.CobraFunc == nil {
		t.Fatal("ntn command not registered")
	}
	env := newTestEnv(t)
	var out bytes.Buffer
	run := func(args ...string) error {
		root := &cobra.Command{Use: "ntn", SilenceUsage: true, SilenceErrors: true}
		cmd.CobraFunc(root)
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		return root.Execute()
	}
	if err := run("verify", env.manifestFile, "--trust-anchor", env.taFile, "--at", ntntest.Epoch.Format(time.RFC3339)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !strings.Contains(out.String(), "version:         1") {
		t.Fatalf("summary not printed: %s", out.String())
	}
	if err := run("verify", env.manifestFile, "--trust-anchor", env.taFile, "--at", "2030-01-01T00:00:00Z"); err == nil {
		t.Fatal("verify accepted an expired manifest")
	}
	if err := run("verify", "--trust-anchor", env.taFile); err == nil {
		t.Fatal("verify without a file succeeded")
	}
}
