// Package e2e is the end-to-end suite of fhir-pep: it starts the demo stack
// (ntn-sim, pcm-sim, the Node FHIR server on @medplum/fhir-router and the
// real fhir-pep binary with examples/demo/Caddyfile) on free loopback ports
// and checks, over real mTLS, what a service provider can and cannot get.
//
//	go test ./e2e/                       builds fhir-pep into a temporary directory
//	FHIR_PEP_BIN=bin/fhir-pep go test ./e2e/   uses a binary built by `make build`
//	go test -short ./e2e/                skips the suite
//
// Missing prerequisites (node, examples/fhir-server/node_modules) fail the
// suite: run `make setup`.
package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortSkip is the reason every test skips in -short mode.
const shortSkip = "e2e: skipped with -short: the end-to-end suite starts fhir-pep, pcm-sim, ntn-sim and the Node FHIR server (run without -short, after `make setup`)"

// nationalIDs are the patients' national ids the suite uses; the PEP's
// logs must never hold them in clear.
var nationalIDs = []string{"000000018", "000000026"}

// suite is the running stack, shared by every test (nil in -short mode).
var suite *stack

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		return fail(err)
	}
	if err := checkPrerequisites(root); err != nil {
		return fail(err)
	}
	pepBin := os.Getenv("FHIR_PEP_BIN")
	if pepBin != "" && !filepath.IsAbs(pepBin) {
		pepBin = filepath.Join(root, pepBin)
	}
	start := time.Now()
	s, err := startStack(root, pepBin)
	if err != nil {
		if s != nil {
			fmt.Fprintf(os.Stderr, "e2e: logs kept in %s\n", s.dir)
		}
		return fail(fmt.Errorf("starting the stack: %w", err))
	}
	fmt.Fprintf(os.Stderr, "e2e: stack ready in %s (PEP %s, upstream %s, state %s)\n",
		time.Since(start).Round(time.Millisecond), s.pepBase, s.upstreamBase, s.dir)
	suite = s

	code := m.Run()

	// Logs never contain tokens or national ids: checked on everything the
	// PEP wrote during the whole suite.
	if leaks := scanLog(s.pepLog, s.rememberedSecrets(), nationalIDs); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "--- FAIL: the fhir-pep log %s holds secrets or national ids in clear:\n%s\n", s.pepLog, strings.Join(leaks, "\n"))
		code = 1
	}
	if err := s.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "--- FAIL: stopping the stack: %v\n", err)
		code = 1
	}
	if code == 0 {
		os.RemoveAll(s.dir)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: logs and state kept in %s\n", s.dir)
	}
	return code
}

// stackFor returns the running stack, or skips the test in -short mode.
func stackFor(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip(shortSkip)
	}
	if suite == nil {
		t.Fatal("the e2e stack is not running (TestMain did not start it)")
	}
	return suite
}

func checkPrerequisites(root string) error {
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node is not on PATH (the FHIR server needs Node.js 20.19+ or 22.12+)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		missing = append(missing, "go is not on PATH (the suite builds the simulators)")
	}
	if _, err := os.Stat(filepath.Join(root, "examples", "fhir-server", "node_modules", "@medplum", "fhir-router")); err != nil {
		missing = append(missing, "examples/fhir-server/node_modules is missing: run `make setup` (npm ci in examples/fhir-server)")
	}
	fixtures := os.Getenv("FIXTURES_DIR")
	if fixtures == "" {
		fixtures = filepath.Join(root, "..", "shared", "fixtures", "hdp-ig-examples")
	}
	if _, err := os.Stat(fixtures); err != nil {
		missing = append(missing, "the HDP IG example fixtures (the FHIR server's FIXTURES_DIR) are not at "+fixtures+": set FIXTURES_DIR")
	}
	if len(missing) > 0 {
		return errors.New("e2e prerequisites missing:\n  " + strings.Join(missing, "\n  "))
	}
	return nil
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "--- FAIL: e2e: %v\n", err)
	return 1
}

// scanLog returns the log lines that contain any token or national id,
// with those values masked so the report itself does not repeat them.
func scanLog(path string, tokens, ids []string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"cannot read the log: " + err.Error()}
	}
	mask := func(line string) (string, bool) {
		found := false
		for _, group := range []struct {
			values []string
			label  string
		}{{tokens, "<TOKEN>"}, {ids, "<NATIONAL-ID>"}} {
			for _, v := range group.values {
				if v != "" && strings.Contains(line, v) {
					line, found = strings.ReplaceAll(line, v, group.label), true
				}
			}
		}
		return line, found
	}
	var leaks []string
	for i, line := range strings.Split(string(b), "\n") {
		if masked, found := mask(line); found {
			leaks = append(leaks, fmt.Sprintf("  line %d: %s", i+1, around(masked, 160, "<TOKEN>", "<NATIONAL-ID>")))
		}
	}
	return leaks
}

// around shortens a long log line to the part near the first mark.
func around(line string, width int, marks ...string) string {
	i := -1
	for _, m := range marks {
		if j := strings.Index(line, m); j >= 0 && (i < 0 || j < i) {
			i = j
		}
	}
	if i < 0 || len(line) <= 2*width {
		return line
	}
	start, end := max(0, i-width), min(len(line), i+width)
	return "..." + line[start:end] + "..."
}
