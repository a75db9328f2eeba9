package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

// Settings of the suite's stack. The ntn refresh is the ntn app's minimum,
// so a removed member is refused within about 11 s; cache_ttl bounds how
// long a revoked token keeps working.
const (
	ntnRefresh  = 10 * time.Second
	pcmCacheTTL = 2 * time.Second
	readyWait   = 60 * time.Second
	stopGrace   = 15 * time.Second
	fhirBase    = "/fhir/R4"
)

// stack is the running demo stack: ntn-sim, pcm-sim, the Node FHIR server and
// fhir-pep, on free loopback ports, with all state in one temporary directory.
type stack struct {
	root string // repository root
	dir  string // temporary directory: binaries, PKI, state, logs
	pki  *demopki.Index
	bin  string // the fhir-pep binary under test

	pepPort, pepAdminPort, pcmPort, pcmAdminPort, ntnPort, ntnAdminPort, fhirPort int

	pepBase      string // https://localhost:<port>/fhir/R4, what clients use
	upstreamBase string // http://127.0.0.1:<port>/fhir/R4, what the PEP must never reveal
	pcmAdmin     string
	ntnAdmin     string
	pepAdmin     string
	pepHealth    string // http://127.0.0.1:<port>, the PEP's fhir_pep_health site
	pepLog       string // captured output of the PEP under test

	procs []*process

	mu      sync.Mutex
	secrets []string // every token value used by the suite, for the log scan
}

// startStack builds what it needs and starts every component, waiting for
// each one's ready line; on error it stops what it already started.
func startStack(root, pepBin string) (s *stack, err error) {
	dir, err := os.MkdirTemp("", "fhir-pep-e2e-")
	if err != nil {
		return nil, err
	}
	s = &stack{root: root, dir: dir, bin: pepBin}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	for _, d := range []string{"bin", "logs", "pep-ntn", "caddy-data", "caddy-config"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return s, err
		}
	}
	if err := s.build(); err != nil {
		return s, err
	}
	if err := writeAuditKey(filepath.Join(dir, "audit-hmac.key")); err != nil {
		return s, err
	}
	// The paging key: every instance the suite starts shares it.
	if err := writeAuditKey(filepath.Join(dir, "paging.key")); err != nil {
		return s, err
	}
	if s.pki, err = demopki.Ensure(filepath.Join(dir, "pki")); err != nil {
		return s, err
	}
	ports, err := freePorts(7)
	if err != nil {
		return s, err
	}
	s.pepHealth = fmt.Sprintf("http://127.0.0.1:%d", ports[6])
	s.pepPort, s.pepAdminPort, s.pcmPort, s.pcmAdminPort, s.ntnPort, s.ntnAdminPort = ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	s.pepBase = fmt.Sprintf("https://localhost:%d%s", s.pepPort, fhirBase)
	s.pcmAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.pcmAdminPort)
	s.ntnAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.ntnAdminPort)
	s.pepAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.pepAdminPort)

	// The three upstream services start together; the FHIR server picks
	// its own port (PORT=0) and names it in its ready line.
	fhir, err := s.start("fhir-server", nodeCommand(root), regexp.MustCompile(`^ready (http://\S+) resources=\d+`))
	if err != nil {
		return s, err
	}
	ntn, err := s.start("ntn-sim", exec.Command(filepath.Join(dir, "bin", "ntn-sim"),
		"-pki", filepath.Join(dir, "pki"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", s.ntnPort),
		"-admin", fmt.Sprintf("127.0.0.1:%d", s.ntnAdminPort),
		"-state", filepath.Join(dir, "ntn-sim.json"),
	), regexp.MustCompile(`^ntn-sim ready`))
	if err != nil {
		return s, err
	}
	pcm, err := s.start("pcm-sim", exec.Command(filepath.Join(dir, "bin", "pcm-sim"),
		"-pki", filepath.Join(dir, "pki"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", s.pcmPort),
		"-admin", fmt.Sprintf("127.0.0.1:%d", s.pcmAdminPort),
		"-resource", s.pepBase,
	), regexp.MustCompile(`^pcm-sim ready`))
	if err != nil {
		return s, err
	}
	m, err := fhir.waitReady(readyWait)
	if err != nil {
		return s, err
	}
	s.upstreamBase = m[1]
	if s.fhirPort, err = portOf(s.upstreamBase); err != nil {
		return s, err
	}
	for _, p := range []*process{ntn, pcm} {
		if _, err := p.waitReady(readyWait); err != nil {
			return s, err
		}
	}

	pep, err := s.startPEP("fhir-pep", s.pepPort, s.pepAdminPort, filepath.Join(dir, "pep-ntn"), "INFO",
		"PEP_HEALTH_PORT="+strconv.Itoa(ports[6]))
	if err != nil {
		return s, err
	}
	s.pepLog = pep.logPath
	return s, nil
}

// build compiles the simulators (and fhir-pep when no binary was given) into
// the temporary directory.
func (s *stack) build() error {
	bin := filepath.Join(s.dir, "bin") + string(filepath.Separator)
	if err := goBuild(s.root, bin, "./examples/cmd/pcm-sim", "./examples/cmd/ntn-sim"); err != nil {
		return err
	}
	if s.bin != "" {
		info, err := os.Stat(s.bin)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return fmt.Errorf("FHIR_PEP_BIN=%s is not an executable file (run 'make build')", s.bin)
		}
		return nil
	}
	s.bin = filepath.Join(s.dir, "bin", "fhir-pep")
	return goBuild(s.root, s.bin, "./cmd/fhir-pep")
}

func goBuild(root, out string, pkgs ...string) error {
	args := append([]string{"build", "-buildvcs=false", "-o", out}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

func nodeCommand(root string) *exec.Cmd {
	cmd := exec.Command("node", "src/server.js")
	cmd.Dir = filepath.Join(root, "examples", "fhir-server")
	// HAPI-style paging (_getpages links), as the most common real server
	// pages: the PEP must seal links whose meaning it cannot know.
	cmd.Env = append(os.Environ(), "PORT=0", "HOST=127.0.0.1", "PAGING=hapi")
	return cmd
}

func (s *stack) start(name string, cmd *exec.Cmd, ready *regexp.Regexp) (*process, error) {
	p, err := startProcess(name, filepath.Join(s.dir, "logs", name+".log"), cmd, ready)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// startPEP starts a fhir-pep with examples/demo/Caddyfile, the same file the
// demo uses, and waits until it serves and trusts the current NTN manifest.
// env ("KEY=value") overrides the stack's settings, e.g. FHIR_PORT.
func (s *stack) startPEP(name string, port, adminPort int, stateDir, logLevel string, env ...string) (*process, error) {
	return s.startPEPWith(filepath.Join(s.root, "examples", "demo", "Caddyfile"), name, port, adminPort, stateDir, logLevel, env...)
}

// startPEPWith is startPEP with another Caddyfile (a variant of the demo's).
func (s *stack) startPEPWith(config, name string, port, adminPort int, stateDir, logLevel string, env ...string) (*process, error) {
	// Every instance gets a health port of its own (the demo Caddyfile's
	// default would clash between instances); env may name it.
	health, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(),
		"PKI="+filepath.Join(s.dir, "pki"),
		"STATE_DIR="+stateDir,
		"AUDIT_KEY="+filepath.Join(s.dir, "audit-hmac.key"),
		"PAGING_KEY="+filepath.Join(s.dir, "paging.key"),
		"PEP_PORT="+strconv.Itoa(port),
		"PEP_ADMIN_PORT="+strconv.Itoa(adminPort),
		"PEP_HEALTH_PORT="+strconv.Itoa(health[0]),
		"PCM_PORT="+strconv.Itoa(s.pcmPort),
		"NTN_PORT="+strconv.Itoa(s.ntnPort),
		"FHIR_PORT="+strconv.Itoa(s.fhirPort),
		"PEP_LOG_LEVEL="+logLevel,
		"NTN_REFRESH="+ntnRefresh.String(),
		"PCM_CACHE_TTL="+pcmCacheTTL.String(),
		// Caddy's own storage and autosave stay in the temporary directory.
		"XDG_DATA_HOME="+filepath.Join(s.dir, "caddy-data", name),
		"XDG_CONFIG_HOME="+filepath.Join(s.dir, "caddy-config", name),
	)
	// os/exec uses the last value of a duplicated key.
	cmd.Env = append(cmd.Env, env...)
	p, err := s.start(name, cmd, regexp.MustCompile(`"msg":"serving initial configuration"`))
	if err != nil {
		return nil, err
	}
	if _, err := p.waitReady(readyWait); err != nil {
		return nil, err
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	err = poll(readyWait, func() (bool, error) {
		v, ok, err := scrapeMetric(admin, "caddy_fhir_pep_ntn_manifest_stale")
		return err == nil && ok && v == 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s never trusted an NTN manifest: %w; its output:\n%s", name, err, tail(p.logPath))
	}
	return p, nil
}

// stop stops every component, the last started first, and reports those
// that did not exit cleanly or left processes behind.
func (s *stack) stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		if err := p.stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
		if err := p.exitedCleanly(); err != nil {
			errs = append(errs, fmt.Errorf("%s did not exit cleanly on SIGTERM: %v", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// remember records a token value so the final log scan can look for it.
func (s *stack) remember(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secret)
}

func (s *stack) rememberedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// writeAuditKey writes a fresh HMAC key for pseudonymising patients in
// audit records, as the README suggests (48 random bytes, base64).
func writeAuditKey(path string) error {
	key := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

// freePorts reserves n distinct loopback ports and releases them for the
// components to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func portOf(base string) (int, error) {
	rest := strings.TrimPrefix(base, "http://")
	hostport, _, _ := strings.Cut(rest, "/")
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, fmt.Errorf("FHIR server base %q: %w", base, err)
	}
	return strconv.Atoi(port)
}

// poll calls cond every 100 ms until it returns true, returns an error, or
// timeout passes.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrapeMetric reads one sample (name with its exact label set, as Caddy's
// /metrics prints it) from a Prometheus text endpoint. ok is false when
// the series does not exist yet.
func scrapeMetric(admin, series string) (value float64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		rest, found := strings.CutPrefix(line, series+" ")
		if !found {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, true, err
	}
	return 0, false, nil
}

// stopProcess stops one component before the end of the suite.
func (s *stack) stopProcess(p *process) error {
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
	if err := p.stop(stopGrace); err != nil {
		return err
	}
	if err := p.exitedCleanly(); err != nil {
		return fmt.Errorf("%s did not exit cleanly on SIGTERM: %v", p.name, err)
	}
	return nil
}
