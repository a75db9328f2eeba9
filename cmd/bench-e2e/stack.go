package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

const fhirBase = "/fhir/R4"

// stack is everything one bench run starts: the simulators of NTN and PCM
// (the demo's own), the in-process FHIR stub, and one fhir-pep process
// that serves two sites from one binary: plain reverse_proxy and fhir_pep,
// with the same TLS (1.3, client certificate checked by the ntn verifier).
type stack struct {
	dir   string
	pki   *demopki.Index
	procs []*exec.Cmd
	stub  *http.Server

	plainPort, pepPort, adminPort, pcmAdminPort int
	floorPorts                                  [3]int // bench_floor, capture only, audit only; 0 without -floor
	pepPid                                      int    // the fhir-pep process, for CPU accounting
	tls                                         *tls.Config
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	out := make([]int, n)
	for i := range out {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func startStack(root, pepBin string, s *stub, logOut io.Writer, accessLog, floor bool) (st *stack, err error) {
	dir, err := os.MkdirTemp("", "fhir-pep-bench-")
	if err != nil {
		return nil, err
	}
	st = &stack{dir: dir}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	if st.pki, err = demopki.Ensure(filepath.Join(dir, "pki")); err != nil {
		return st, err
	}
	for _, sim := range []string{"pcm-sim", "ntn-sim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", sim), "./examples/cmd/"+sim)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, logOut, logOut
		if err := cmd.Run(); err != nil {
			return st, fmt.Errorf("building %s: %w", sim, err)
		}
	}
	if floor {
		// The yardstick site needs a binary with its module: fhir-pep's
		// own modules plus bench_floor, built from this tree.
		pepBin = filepath.Join(dir, "bin", "fhir-pep-floor")
		cmd := exec.Command("go", "build", "-o", pepBin, "./cmd/bench-e2e/floorbin")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, logOut, logOut
		if err := cmd.Run(); err != nil {
			return st, fmt.Errorf("building the floor binary: %w", err)
		}
	}
	ports, err := freePorts(11)
	if err != nil {
		return st, err
	}
	ntnPort, ntnAdmin, pcmPort, pcmAdmin, stubPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	st.plainPort, st.pepPort, st.adminPort, st.pcmAdminPort = ports[5], ports[6], ports[7], pcmAdmin
	floorSite := ""
	if floor {
		copy(st.floorPorts[:], ports[8:11])
		floorSite = floorSiteBlocks
	}

	if err := st.run("ntn-sim", "ntn-sim ready", filepath.Join(dir, "bin", "ntn-sim"),
		"-pki", st.pki.Dir, "-addr", fmt.Sprintf("127.0.0.1:%d", ntnPort),
		"-admin", fmt.Sprintf("127.0.0.1:%d", ntnAdmin), "-state", filepath.Join(dir, "ntn-sim.json")); err != nil {
		return st, err
	}
	if err := st.run("pcm-sim", "pcm-sim ready", filepath.Join(dir, "bin", "pcm-sim"),
		"-pki", st.pki.Dir, "-addr", fmt.Sprintf("127.0.0.1:%d", pcmPort),
		"-admin", fmt.Sprintf("127.0.0.1:%d", pcmAdmin),
		"-resource", fmt.Sprintf("https://localhost:%d%s", st.pepPort, fhirBase)); err != nil {
		return st, err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", stubPort))
	if err != nil {
		return st, err
	}
	st.stub = s.serve(ln)

	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(dir, "audit-hmac.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return st, err
	}
	caddyfile := filepath.Join(dir, "Caddyfile")
	site := ""
	if accessLog {
		site = accessLogDirective
	}
	conf := strings.ReplaceAll(strings.ReplaceAll(benchCaddyfile, "#FLOOR_SITE#", floorSite), "#ACCESS_LOG#", site)
	if err := os.WriteFile(caddyfile, []byte(conf), 0o600); err != nil {
		return st, err
	}
	cmd := exec.Command(pepBin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"PKI="+st.pki.Dir, "STATE_DIR="+filepath.Join(dir, "pep-state"), "AUDIT_KEY="+keyFile,
		"AUDIT_LOG="+filepath.Join(dir, "audit.log"), "ACCESS_LOG="+filepath.Join(dir, "access.log"),
		fmt.Sprintf("ADMIN_PORT=%d", st.adminPort), fmt.Sprintf("NTN_PORT=%d", ntnPort),
		fmt.Sprintf("PCM_PORT=%d", pcmPort), fmt.Sprintf("STUB_PORT=%d", stubPort),
		fmt.Sprintf("PLAIN_PORT=%d", st.plainPort), fmt.Sprintf("PEP_PORT=%d", st.pepPort), fmt.Sprintf("FLOOR_PORT=%d", st.floorPorts[0]),
		fmt.Sprintf("FLOOR_CAPTURE_PORT=%d", st.floorPorts[1]), fmt.Sprintf("FLOOR_AUDIT_PORT=%d", st.floorPorts[2]),
		"XDG_DATA_HOME="+filepath.Join(dir, "caddy-data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "caddy-config"))
	logFile, err := os.Create(filepath.Join(dir, "fhir-pep.log"))
	if err != nil {
		return st, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return st, err
	}
	st.procs = append(st.procs, cmd)
	st.pepPid = cmd.Process.Pid

	if st.tls, err = clientTLS(st.pki, "hospital-a"); err != nil {
		return st, err
	}
	return st, st.waitServing(60 * time.Second)
}

// run starts a simulator and waits for its ready line on stdout.
func (st *stack) run(name, ready, bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(st.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	st.procs = append(st.procs, cmd)
	lines := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if !found && strings.HasPrefix(sc.Text(), ready) {
				found = true
				lines <- true
			}
		}
		if !found {
			lines <- false
		}
	}()
	select {
	case ok := <-lines:
		if !ok {
			return fmt.Errorf("%s exited before it was ready; see %s", name, logFile.Name())
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s not ready after 60s", name)
	}
}

// waitServing waits until both sites answer a TLS request with an HTTP
// status (any: the point is that the listeners and the NTN snapshot are up).
func (st *stack) waitServing(d time.Duration) error {
	c := newClient(st.tls, 1, "none")
	deadline := time.Now().Add(d)
	for _, site := range st.sites() {
		port := site.port
		for {
			_, _, err := c.get(context.Background(), fmt.Sprintf("https://localhost:%d%s/metadata", port, fhirBase))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("port %d not serving after %s: %v (log: %s)", port, d, err, filepath.Join(st.dir, "fhir-pep.log"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func clientTLS(ix *demopki.Index, name string) (*tls.Config, error) {
	cl, ok := ix.Clients[name]
	if !ok {
		return nil, fmt.Errorf("no demo client %q", name)
	}
	cert, err := tls.LoadX509KeyPair(cl.Cert, cl.Key)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(ix.TLS.CA.Cert)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in " + ix.TLS.CA.Cert)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: "localhost"}, nil
}

// mint asks pcm-sim for a new token bound to the bench client.
func (st *stack) mint() (string, error) {
	body, _ := json.Marshal(map[string]any{"patient": benchNationalID, "scope": benchScope, "member": "hospital-a", "ttl": "2h"})
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/admin/tokens", st.pcmAdminPort), "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("minting a token: status %d, %v", resp.StatusCode, err)
	}
	return out.Token, nil
}

// introspections is pcm-sim's count of introspection calls so far.
func (st *stack) introspections() (int64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/admin/stats", st.pcmAdminPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		IntrospectionCalls int64 `json:"introspection_calls"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.IntrospectionCalls, err
}

// profile saves a CPU profile of the fhir-pep process from Caddy's admin
// endpoint while fn runs.
func (st *stack) profile(path string, seconds int, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://localhost:%d/debug/pprof/profile?seconds=%d", st.adminPort, seconds))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return errors.Join(fn(), <-done)
}

func (st *stack) stop() {
	for i := len(st.procs) - 1; i >= 0; i-- {
		p := st.procs[i]
		if p.Process != nil {
			p.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				p.Process.Kill()
			}
		}
	}
	if st.stub != nil {
		st.stub.Close()
	}
}

// accessLogDirective is Caddyfile.example's access log, put on both sites
// by -access-log (#ACCESS_LOG# in benchCaddyfile; a comment otherwise).
const accessLogDirective = `log {
		output file {$ACCESS_LOG}
		format filter {
			wrap json
			request>uri fhir_query
			request>headers fhir_query
			resp_headers fhir_query
		}
	}`

// benchCaddyfile serves both sites from one process. The PEP site is
// configured as production would be: audit records written to a file,
// token cache 60 s; the plain site is Caddy's reverse_proxy alone.
const benchCaddyfile = `{
	admin localhost:{$ADMIN_PORT}
	auto_https disable_redirects
	skip_install_trust
	log {
		level ERROR
	}
	log audit {
		output file {$AUDIT_LOG}
		include http.handlers.fhir_pep.audit http.handlers.bench_floor.audit
		level INFO
	}
	ntn {
		api_url https://localhost:{$NTN_PORT}/api/manifest
		trust_anchor {$PKI}/ntn/trust-anchor.crt
		client_cert {$PKI}/members/org-ds-hmo-b/client.crt
		client_key {$PKI}/members/org-ds-hmo-b/client.key
		server_ca {$PKI}/tls/ca.crt
		refresh 5m
		state_dir {$STATE_DIR}
	}
}

https://localhost:{$PLAIN_PORT} {
	bind 127.0.0.1
	tls {$PKI}/tls/pep.crt {$PKI}/tls/pep.key {
		protocols tls1.3
		client_auth {
			mode require
			verifier ntn
		}
	}
	#ACCESS_LOG#
	reverse_proxy 127.0.0.1:{$STUB_PORT}
}

https://localhost:{$PEP_PORT} {
	bind 127.0.0.1
	tls {$PKI}/tls/pep.crt {$PKI}/tls/pep.key {
		protocols tls1.3
		client_auth {
			mode require
			verifier ntn
		}
	}
	fhir_pep {
		resource https://localhost:{$PEP_PORT}/fhir/R4
		base_path /fhir/R4
		upstream_base http://127.0.0.1:{$STUB_PORT}/fhir/R4
		pcm {
			issuer https://pcm.fhir.health.gov.il/
			token_endpoint https://localhost:{$PCM_PORT}/token
			introspection_endpoint https://localhost:{$PCM_PORT}/introspect
			client_id http://pcm.fhir.health.gov.il/organization/633
			ca {$PKI}/tls/ca.crt
			cache_ttl 60s
		}
		audit {
			patient_hash_key {$AUDIT_KEY}
			required
		}
	}
	#ACCESS_LOG#
	reverse_proxy 127.0.0.1:{$STUB_PORT}
}
#FLOOR_SITE#
`

// floorSiteBlocks are the -floor sites: the plain site with bench_floor
// (cmd/bench-e2e/floor) in front of reverse_proxy, writing its audit record
// into the same audit log as the PEP; then the same with only one of its
// two duties, holding the answer back or writing the record.
const floorSiteBlocks = `
(floor) {
	https://localhost:{args[0]} {
		bind 127.0.0.1
		tls {$PKI}/tls/pep.crt {$PKI}/tls/pep.key {
			protocols tls1.3
			client_auth {
				mode require
				verifier ntn
			}
		}
		#ACCESS_LOG#
		bench_floor {args[1:]}
		reverse_proxy 127.0.0.1:{$STUB_PORT}
	}
}

import floor {$FLOOR_PORT}
import floor {$FLOOR_CAPTURE_PORT} capture
import floor {$FLOOR_AUDIT_PORT} audit
`

// site is one of the measured sites of the process.
type site struct {
	name string // plain, pep, floor, floor-capture or floor-audit
	port int
}

// sites are the sites of a round: plain first (the reference), fhir-pep,
// and with -floor the yardsticks.
func (st *stack) sites() []site {
	out := []site{{"plain", st.plainPort}, {"pep", st.pepPort}}
	if st.floorPorts[0] != 0 {
		out = append(out, site{"floor", st.floorPorts[0]}, site{"floor-capture", st.floorPorts[1]}, site{"floor-audit", st.floorPorts[2]})
	}
	return out
}
