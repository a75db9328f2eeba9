package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNationalResolver: a PEP with `patient_resolver national` resolves the
// token's national id at the national resolve service (resolve-sim, HTTP
// Basic, answering from the demo data) instead of a Patient lookup at the
// FHIR server. A known patient's data is served; an unknown one is "no data
// here" as with the FHIR resolver; two active Patients (409) are 403
// duplicate_patient; the service down is 503 ID_001. The national id
// reaches neither the FHIR server's request log nor the PEP's log.
func TestNationalResolver(t *testing.T) {
	s := stackFor(t)
	dir := t.TempDir()
	sim := filepath.Join(dir, "resolve-sim")
	if err := goBuild(s.root, sim, "./examples/cmd/resolve-sim"); err != nil {
		t.Fatal(err)
	}
	passwordFile := filepath.Join(dir, "resolve.password")
	if err := os.WriteFile(passwordFile, []byte(randomLetters(t, 24)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const basicUser = "org-ds-hmo-b"

	ports, err := freePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	pepPort, adminPort, resolvePort, fhirPort := ports[0], ports[1], ports[2], ports[3]
	pepBase := fmt.Sprintf("https://localhost:%d%s", pepPort, fhirBase)

	resolver, err := s.start("resolve-sim", exec.Command(sim,
		"-addr", fmt.Sprintf("127.0.0.1:%d", resolvePort),
		"-data", filepath.Join(s.root, "examples", "fhir-server", "data"),
		"-user", basicUser, "-password-file", passwordFile,
	), regexp.MustCompile(`^resolve-sim ready`))
	if err != nil {
		t.Fatal(err)
	}
	resolverRunning := true
	t.Cleanup(func() {
		if resolverRunning {
			if err := s.stopProcess(resolver); err != nil {
				t.Error(err)
			}
		}
	})
	if _, err := resolver.waitReady(readyWait); err != nil {
		t.Fatal(err)
	}

	// A FHIR server of its own, logging every request it receives.
	cmd := nodeCommand(s.root)
	cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(fhirPort), "LOG_REQUESTS=1")
	fhir, err := s.start("fhir-server-national", cmd, regexp.MustCompile(`^ready (http://\S+) resources=\d+`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(fhir); err != nil {
			t.Error(err)
		}
	})
	if _, err := fhir.waitReady(readyWait); err != nil {
		t.Fatal(err)
	}

	config := s.demoCaddyfileVariant(t, "Caddyfile.national", fmt.Sprintf(
		"\t\tpatient_resolver national {\n\t\t\turl http://127.0.0.1:%d\n\t\t\tbasic_user %s\n\t\t\tbasic_password_file %s\n\t\t}\n",
		resolvePort, basicUser, passwordFile))
	pep, err := s.startPEPWith(config, "fhir-pep-national", pepPort, adminPort, filepath.Join(dir, "pep-ntn"), "DEBUG",
		"FHIR_PORT="+strconv.Itoa(fhirPort))
	if err != nil {
		t.Fatal(err)
	}
	allIDs := append(slices.Clone(nationalIDs), "000000034", unknownNationalID)
	t.Cleanup(func() {
		if err := s.stopProcess(pep); err != nil {
			t.Error(err)
		}
		// The national id went only to the resolve service, in a POST
		// body: no log of the PEP, the FHIR server or the simulator
		// holds it (the PEP ran at DEBUG, its most verbose level).
		for _, log := range []string{pep.logPath, fhir.logPath, resolver.logPath} {
			if leaks := scanLog(log, s.rememberedSecrets(), allIDs); len(leaks) > 0 {
				t.Errorf("%s holds secrets or national ids in clear:\n%s", log, strings.Join(leaks, "\n"))
			}
		}
	})

	c := s.memberClient(t, "hospital-a")
	token := func(t *testing.T, nationalID string) string {
		return s.mint(t, grant{Patient: nationalID, Scope: labScope, Member: "hospital-a", Aud: pepBase}).Token
	}
	on := func(target string) string { return pepBase + target }
	want := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(want) == 0 {
		t.Fatal("test data: patient 000000026 has no lab Observation")
	}
	otherObs := keys(withBucket(s.upstreamObservations(t, "000000034"), "laboratoryTests"))
	if len(otherObs) == 0 {
		t.Fatal("test data: patient 000000034 has no lab Observation")
	}

	t.Run("a known patient's reads and searches are served", func(t *testing.T) {
		tok := token(t, "000000026")
		got := keys(decodeBundle(t, s.expectStatus(t, c, tok, on("/Observation?_count=100"), http.StatusOK).body).resources())
		if !slices.Equal(got, want) {
			t.Fatalf("search: got %v, want %v", got, want)
		}
		r := s.expectStatus(t, c, tok, on("/"+want[0]), http.StatusOK)
		if decodeResource(t, r.body).ID != strings.TrimPrefix(want[0], "Observation/") {
			t.Fatalf("read %s: %.300s", want[0], r.body)
		}
		// Another patient's resource stays out of reach.
		s.expectStatus(t, c, tok, on("/"+otherObs[0]), http.StatusNotFound)
		waitLog(t, resolver.logPath, "resolve POST /api/v1/resolve status=200")
	})

	t.Run("an unknown patient has no data here", func(t *testing.T) {
		tok := token(t, unknownNationalID)
		r := s.expectStatus(t, c, tok, on("/Observation"), http.StatusOK)
		if got := decodeBundle(t, r.body).resources(); len(got) != 0 {
			t.Fatalf("resources for an unknown patient: %v", keys(got))
		}
		s.expectStatus(t, c, tok, on("/"+want[0]), http.StatusNotFound)
		waitLog(t, resolver.logPath, "resolve POST /api/v1/resolve status=404")
	})

	t.Run("two active Patients are 403 duplicate_patient", func(t *testing.T) {
		r := s.expectStatus(t, c, token(t, "000000018"), on("/Observation"), http.StatusForbidden)
		if !strings.Contains(string(r.body), `"duplicate_patient"`) {
			t.Fatalf("no duplicate_patient code: %.300s", r.body)
		}
	})

	t.Run("the FHIR server was never asked for a Patient by national id", func(t *testing.T) {
		// Its log is the one the PEP's requests reach.
		waitLog(t, fhir.logPath, "request GET "+fhirBase+"/Observation")
		b, err := os.ReadFile(fhir.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "Patient/_search") || strings.Contains(string(b), "identifier") {
			t.Fatalf("the FHIR server received a patient lookup:\n%s", b)
		}
	})

	t.Run("the resolve service down is 503 ID_001", func(t *testing.T) {
		tok := token(t, "000000034") // never resolved yet: not in the PEP's cache
		resolverRunning = false
		if err := s.stopProcess(resolver); err != nil {
			t.Fatal(err)
		}
		r := s.expectStatus(t, c, tok, on("/Observation"), http.StatusServiceUnavailable)
		if !strings.Contains(string(r.body), `"ID_001"`) || r.header.Get("Retry-After") == "" {
			t.Fatalf("want ID_001 with Retry-After: %v %.300s", r.header, r.body)
		}
		// Cached answers still serve the patients resolved before.
		s.expectStatus(t, c, token(t, "000000026"), on("/"+want[0]), http.StatusOK)
	})
}

// waitLog waits until a line of the log at path holds every fragment: a
// component's output reaches its log file through a pipe, possibly after
// the answer the test already has.
func waitLog(t *testing.T, path string, fragments ...string) {
	t.Helper()
	if err := poll(10*time.Second, func() (bool, error) { return logHas(t, path, fragments...), nil }); err != nil {
		t.Fatalf("no line holding %q in %s: %v\n%s", fragments, path, err, tail(path))
	}
}
