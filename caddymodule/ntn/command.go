package ntn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/hdp-il/fhir-pep/trust"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "ntn",
		Usage: "verify <manifest-file> --trust-anchor <pem-file>",
		Short: "Inspects NTN member manifests",
		Long: `
Tools for the National Trusted Network (NTN) member manifest used by the
ntn app.

"ntn verify" checks a manifest file offline exactly as the ntn app does
(signature, algorithm allow list, x5c chain to the trust anchor, strict
schema, expiry) and prints a summary: version, issued/expires, signer and
members with their status and certificate counts. It exits non-zero with
the reason when the manifest would be rejected. Version rollback is not
checked: that needs the state_dir of a running instance.
`,
		CobraFunc: func(cmd *cobra.Command) {
			verify := &cobra.Command{
				Use:   "verify <manifest-file> --trust-anchor <pem-file>",
				Short: "Verifies an NTN manifest offline and prints a summary",
				Args:  cobra.ExactArgs(1),
				// The summary goes to the command's output and "now" is the
				// wall clock: both injected here, so tests set their own.
				RunE: func(c *cobra.Command, args []string) error {
					return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
						return cmdVerify(fl, c.OutOrStdout(), time.Now)
					})(c, args)
				},
			}
			verify.Flags().String("trust-anchor", "", "PEM file with the NTN trust anchor certificate(s) (required)")
			verify.Flags().String("at", "", "verify at this RFC 3339 time instead of now")
			cmd.AddCommand(verify)
		},
	})
}

// cmdVerify runs "ntn verify", printing the summary to w and verifying at
// now() unless --at says otherwise.
func cmdVerify(fl caddycmd.Flags, w io.Writer, now func() time.Time) (int, error) {
	args := fl.Args()
	if len(args) != 1 {
		return 2, errors.New("usage: ntn verify <manifest-file> --trust-anchor <pem-file>")
	}
	at := now()
	if s := fl.String("at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return 2, fmt.Errorf("--at: %w", err)
		}
		at = t
	}
	if err := runVerify(w, args[0], fl.String("trust-anchor"), at); err != nil {
		return 1, err
	}
	return 0, nil
}

// runVerify verifies the manifest in file against the trust anchors in
// anchorFile at now and writes a summary to w.
func runVerify(w io.Writer, file, anchorFile string, now time.Time) error {
	if anchorFile == "" {
		return errors.New("--trust-anchor is required")
	}
	// Every error names what the operator gave: the flag, or the manifest.
	anchorPEM, err := os.ReadFile(anchorFile)
	if err != nil {
		return fmt.Errorf("--trust-anchor: %w", err)
	}
	anchors, err := parsePEMCertificates(anchorPEM)
	if err != nil {
		return fmt.Errorf("--trust-anchor %s: %w", anchorFile, err)
	}
	jws, err := readManifestFile(file)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	m, err := trust.Verify(jws, trust.VerifyOptions{TrustAnchors: anchors, Now: now})
	if err != nil {
		return fmt.Errorf("manifest rejected (reason %s): %w", trust.ReasonOf(err), err)
	}
	return writeManifestSummary(w, m, now)
}

func readManifestFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, trust.MaxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > trust.MaxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, trust.MaxManifestBytes)
	}
	return data, nil
}

func writeManifestSummary(w io.Writer, m *trust.Manifest, now time.Time) error {
	active := 0
	for _, mem := range m.Members {
		if mem.Status == trust.StatusActive {
			active++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "manifest:\tOK\n")
	fmt.Fprintf(tw, "version:\t%d\n", m.Version)
	fmt.Fprintf(tw, "issued_at:\t%s\n", m.IssuedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "expires_at:\t%s (in %s)\n", m.ExpiresAt.UTC().Format(time.RFC3339), m.ExpiresAt.Sub(now).Round(time.Second))
	fmt.Fprintf(tw, "algorithm:\t%s\n", m.Algorithm)
	fmt.Fprintf(tw, "signer:\t%s\n", m.Signer.Subject)
	fmt.Fprintf(tw, "signer_expires:\t%s\n", m.Signer.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "members:\t%d (%d active)\n", len(m.Members), active)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Members) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "MEMBER_ID\tSTATUS\tTLS\tCA\tNAME\n")
	for _, mem := range m.Members {
		tlsCount, caCount := 0, 0
		for _, c := range mem.Certificates {
			if c.Use == trust.UseTLS {
				tlsCount++
			} else {
				caCount++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", mem.ID, mem.Status, tlsCount, caCount, mem.Name)
	}
	return tw.Flush()
}
