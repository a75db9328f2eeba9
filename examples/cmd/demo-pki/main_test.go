package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

func TestPrintSummaryListsEveryClient(t *testing.T) {
	ix, err := demopki.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printSummary(&out, ix)
	text := out.String()
	if !strings.HasPrefix(text, "demo PKI ready: "+ix.Dir+"/pki.json\n") {
		t.Fatalf("first line: %q", text)
	}
	for name, c := range ix.Clients {
		if !strings.Contains(text, c.Thumbprint) || !strings.Contains(text, name) {
			t.Errorf("client %s missing from:\n%s", name, text)
		}
	}
	if strings.Count(text, "(expired)") != 1 {
		t.Errorf("want exactly one expired client:\n%s", text)
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("summary prints key material")
	}
}
