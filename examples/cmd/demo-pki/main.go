// Command demo-pki creates (or reuses) the demo PKI of the fhir-pep demo
// stack in a state directory and prints where everything is.
//
// Usage:
//
//	demo-pki [-dir examples/demo-state/pki]
//
// It is idempotent: running it again keeps every certificate that is still
// good. The index of all files is written to <dir>/pki.json.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

func main() {
	dir := flag.String("dir", "examples/demo-state/pki", "state directory for keys, certificates and pki.json")
	flag.Parse()
	ix, err := demopki.Ensure(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-pki:", err)
		os.Exit(1)
	}
	printSummary(os.Stdout, ix)
}

func printSummary(w io.Writer, ix *demopki.Index) {
	fmt.Fprintf(w, "demo PKI ready: %s/%s\n", ix.Dir, demopki.IndexFile)
	fmt.Fprintf(w, "  NTN trust anchor: %s\n", ix.NTN.TrustAnchor.Cert)
	fmt.Fprintf(w, "  TLS CA:           %s\n", ix.TLS.CA.Cert)
	names := make([]string, 0, len(ix.Clients))
	for name := range ix.Clients {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "  client certificates (name, member, in NTN, x5t#S256):")
	for _, name := range names {
		c := ix.Clients[name]
		note := ""
		if c.Expired {
			note = " (expired)"
		}
		fmt.Fprintf(w, "    %-19s %-18s %-5v %s%s\n", name, c.MemberID, c.InNTN, c.Thumbprint, note)
	}
}
