package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebugLogHoldsNoNationalID: logs never contain tokens or national ids,
// not even at log level DEBUG, which an operator turns on to troubleshoot
// (PEP_LOG_LEVEL in examples/demo/Caddyfile). A second fhir-pep with the
// same Caddyfile at DEBUG serves one request; its whole output is scanned.
// (TestMain scans the main PEP's INFO output after all tests.)
func TestDebugLogHoldsNoNationalID(t *testing.T) {
	s := stackFor(t)
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.startPEP("fhir-pep-debug", ports[0], ports[1], filepath.Join(s.dir, "pep-debug-ntn"), "DEBUG")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(p); err != nil {
			t.Error(err)
		}
	})
	base := fmt.Sprintf("https://localhost:%d%s", ports[0], fhirBase)
	token := s.mint(t, grant{Patient: "000000026", Scope: labScope, Member: "hospital-a", Aud: base}).Token
	r := s.expectStatus(t, s.memberClient(t, "hospital-a"), token, base+"/Observation", http.StatusOK)
	if len(decodeBundle(t, r.body).resources()) == 0 {
		t.Fatal("the DEBUG PEP returned no lab Observation")
	}
	if leaks := scanLog(p.logPath, []string{token}, nationalIDs); len(leaks) > 0 {
		t.Errorf("the DEBUG log %s holds tokens or national ids in clear:\n%s", p.logPath, strings.Join(leaks, "\n"))
	}
}
