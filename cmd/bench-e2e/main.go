// Command bench-e2e measures fhir-pep against plain Caddy reverse_proxy
// from the same binary, side by side in one run: one fhir-pep process
// serves two sites with the same TLS 1.3 and client-certificate check, one
// with reverse_proxy alone and one with fhir_pep in front of it, both to an
// in-memory FHIR stub. Rounds alternate between the two sites (and swap
// their order each round) so that whatever else the machine does falls on
// both; the report gives throughput ratios and added latency, the numbers
// that mean something on a shared machine, and the number of PCM
// introspections a burst of concurrent requests with one new token causes.
//
//	make bench-e2e                       # builds bin/fhir-pep, then runs this
//	go run ./cmd/bench-e2e -bin bin/fhir-pep -rounds 3 -duration 10s
//	go run ./cmd/bench-e2e -profile /tmp/pep   # CPU profiles of fhir-pep per scenario and site
//	go run ./cmd/bench-e2e -only read          # one scenario (read, search or stampede)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type scenario struct {
	name, path string
	target     float64 // the ratio issue #13 asks for
}

var scenarios = []scenario{
	{"read: GET /Observation/{id}, about 1 KB, token and decision cached", fhirBase + "/Observation/obs-1", 0.90},
	{"search: a 2 MB searchset of 900 Observations, all granted", fhirBase + "/Observation", 0.60},
}

func main() {
	var (
		bin      = flag.String("bin", "bin/fhir-pep", "the fhir-pep binary (Caddy + standard modules + fhir-pep)")
		rounds   = flag.Int("rounds", 3, "alternating rounds per scenario")
		duration = flag.Duration("duration", 5*time.Second, "length of one measured round of one site")
		warmup   = flag.Duration("warmup", time.Second, "unmeasured warm-up before each round")
		conns    = flag.Int("conns", 16, "keep-alive connections (and concurrent workers)")
		big      = flag.Int("big", 900, "Observations in the large searchset")
		burst    = flag.Int("burst", 1000, "concurrent requests with one new token")
		profile  = flag.String("profile", "", "directory for CPU profiles of fhir-pep taken during the first round, one per scenario and site (from the admin endpoint)")
		only     = flag.String("only", "", "run one scenario only: read, search or stampede")
		access   = flag.Bool("access-log", false, "give both sites Caddyfile.example's access log (as production runs), not only the PEP its audit log")
		verbose  = flag.Bool("v", false, "print build output")
	)
	flag.Parse()
	if err := run(*bin, *rounds, *duration, *warmup, *conns, *big, *burst, *profile, *only, *access, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func run(bin string, rounds int, d, warm time.Duration, conns, big, burst int, profileDir, only string, accessLog, verbose bool) error {
	switch only {
	case "", "read", "search", "stampede":
	default:
		return fmt.Errorf("-only %q: want read, search or stampede", only)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return errors.New("run from the repository root (make bench-e2e)")
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (make build first)", bin, err)
	}
	s, err := newStub(fhirBase, big)
	if err != nil {
		return err
	}
	var buildLog io.Writer = io.Discard
	if verbose {
		buildLog = os.Stderr
	}
	fmt.Printf("starting the stack (ntn-sim, pcm-sim, FHIR stub, fhir-pep)...\n")
	st, err := startStack(root, bin, s, buildLog, accessLog)
	if err != nil {
		return err
	}
	defer st.stop()
	token, err := st.mint()
	if err != nil {
		return err
	}
	c := newClient(st.tls, conns, token)
	if err := checkAnswers(c, st, s); err != nil {
		return err
	}

	host, _ := os.Hostname()
	logs := "audit log on the PEP site, no access logs"
	if accessLog {
		logs = "audit log on the PEP site, access log on both"
	}
	fmt.Printf("\nfhir-pep vs plain reverse_proxy, same binary (%s), TLS 1.3 + client certificate, %d keep-alive connections,\n%d alternating rounds of %s per site (after %s warm-up), %s, host %s, %s\n\n",
		filepath.Base(bin), conns, rounds, d, warm, logs, host, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("Bodies: the read %d bytes, the searchset %d bytes (%d Observations).\n\n", len(s.readBody), len(s.bigSet), big)
	fmt.Println("| request | plain req/s | fhir-pep req/s | ratio (median) | target | added p50 | added p99 |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for i, sc := range scenarios {
		if only != "" && only != sc.short() {
			continue
		}
		var prof profiler
		if profileDir != "" {
			prof = func(site string, fn func() error) error {
				secs := int((d + warm).Seconds())
				return st.profile(filepath.Join(profileDir, fmt.Sprintf("scenario-%d-%s.pprof", i+1, site)), secs, fn)
			}
		}
		line, err := measureScenario(c, st, sc, rounds, d, warm, prof)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Println(line)
	}
	if only != "" && only != "stampede" {
		return nil
	}
	calls, ok, err := stampede(st, burst)
	if err != nil {
		return err
	}
	fmt.Printf("| %d concurrent requests, one new token: PCM introspections | | | %d (%d answered 200) | exactly 1 | | |\n", burst, calls, ok)
	fmt.Printf("\nratio = fhir-pep throughput / plain throughput, median of the rounds; added = fhir-pep latency - plain latency, median of the rounds.\n")
	return nil
}

// checkAnswers makes sure the PEP allows what the bench measures, so a
// misconfiguration cannot pass for a fast refusal.
func checkAnswers(c *client, st *stack, s *stub) error {
	for _, sc := range scenarios {
		for _, port := range []int{st.plainPort, st.pepPort} {
			status, n, err := c.get(context.Background(), fmt.Sprintf("https://localhost:%d%s", port, sc.path))
			if err != nil {
				return err
			}
			if status != 200 {
				return fmt.Errorf("GET %s on port %d: status %d (see %s)", sc.path, port, status, filepath.Join(st.dir, "fhir-pep.log"))
			}
			if strings.HasSuffix(sc.path, "/Observation") && n < int64(len(s.bigSet))*9/10 {
				return fmt.Errorf("GET %s on port %d: %d bytes, want about %d: resources were withheld", sc.path, port, n, len(s.bigSet))
			}
		}
	}
	return nil
}

// profiler runs fn while it takes a CPU profile of fhir-pep named after
// the site (plain or pep).
type profiler func(site string, fn func() error) error

// short is the scenario's name for -only: the word before the colon.
func (sc scenario) short() string { return strings.SplitN(sc.name, ":", 2)[0] }

// measureScenario runs the alternating rounds. With prof, the first
// round of each site runs under a CPU profile of its own, so the plain
// and the PEP site's profiles can be compared (the process serves both).
func measureScenario(c *client, st *stack, sc scenario, rounds int, d, warm time.Duration, prof profiler) (string, error) {
	var ratios, plainTP, pepTP []float64
	var addP50, addP99 []time.Duration
	for r := range rounds {
		order := []int{st.plainPort, st.pepPort}
		if r%2 == 1 {
			order = []int{st.pepPort, st.plainPort}
		}
		res := map[int]round{}
		for _, port := range order {
			var rd round
			run := func() (err error) {
				rd, err = c.run(fmt.Sprintf("https://localhost:%d%s", port, sc.path), c.conns, warm, d)
				return err
			}
			var err error
			if prof != nil && r == 0 {
				site := "pep"
				if port == st.plainPort {
					site = "plain"
				}
				err = prof(site, run)
			} else {
				err = run()
			}
			if err != nil {
				return "", err
			}
			res[port] = rd
		}
		plain, pep := res[st.plainPort], res[st.pepPort]
		ratios = append(ratios, pep.throughput()/plain.throughput())
		plainTP = append(plainTP, plain.throughput())
		pepTP = append(pepTP, pep.throughput())
		addP50 = append(addP50, pep.quantile(0.50)-plain.quantile(0.50))
		addP99 = append(addP99, pep.quantile(0.99)-plain.quantile(0.99))
		fmt.Fprintf(os.Stderr, "  round %d %-8s plain %8.0f req/s  fhir-pep %8.0f req/s  ratio %.2f\n", r+1, sc.short(), plain.throughput(), pep.throughput(), ratios[len(ratios)-1])
	}
	return fmt.Sprintf("| %s | %.0f | %.0f | **%.2f** (%s) | >= %.2f | %s | %s |", sc.name, median(plainTP), median(pepTP), median(ratios), join(ratios), sc.target,
		medianDur(addP50).Round(time.Microsecond), medianDur(addP99).Round(time.Microsecond)), nil
}

// stampede mints a new token and sends burst requests with it at once; the
// PEP must introspect it exactly once.
func stampede(st *stack, burst int) (int64, int, error) {
	token, err := st.mint()
	if err != nil {
		return 0, 0, err
	}
	before, err := st.introspections()
	if err != nil {
		return 0, 0, err
	}
	c := newClient(st.tls, 64, token)
	ok, burstErr := c.burst(fmt.Sprintf("https://localhost:%d%s", st.pepPort, scenarios[0].path), burst)
	after, err := st.introspections()
	if err != nil {
		return 0, 0, err
	}
	if ok != burst {
		fmt.Fprintf(os.Stderr, "  stampede: %d of %d answered 200; first error: %v\n", ok, burst, burstErr)
	}
	return after - before, ok, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianDur(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func join(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}
