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
		floor    = flag.Bool("floor", false, "also measure yardstick sites that only hold the answer back and write the audit line, or do one of the two (cmd/bench-e2e/floor; builds its own binary from this tree instead of -bin)")
		verbose  = flag.Bool("v", false, "print build output")
	)
	flag.Parse()
	if err := run(*bin, *rounds, *duration, *warmup, *conns, *big, *burst, *profile, *only, *access, *floor, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func run(bin string, rounds int, d, warm time.Duration, conns, big, burst int, profileDir, only string, accessLog, floor, verbose bool) error {
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
	if _, err := os.Stat(bin); err != nil && !floor {
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
	st, err := startStack(root, bin, s, buildLog, accessLog, floor)
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
	binName := filepath.Base(bin)
	if floor {
		binName = "fhir-pep with the bench_floor yardstick, built from this tree"
	}
	logs := "audit log on the PEP site, no access logs"
	if accessLog {
		logs = "audit log on the PEP site, access log on both"
	}
	fmt.Printf("\nfhir-pep vs plain reverse_proxy, same binary (%s), TLS 1.3 + client certificate, %d keep-alive connections,\n%d alternating rounds of %s per site (after %s warm-up), %s, host %s, %s\n\n",
		binName, conns, rounds, d, warm, logs, host, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("Bodies: the read %d bytes, the searchset %d bytes (%d Observations).\n\n", len(s.readBody), len(s.bigSet), big)
	fmt.Println("| request | plain req/s | fhir-pep req/s | ratio (median) | target | added p50 | added p99 | server CPU per request, plain -> fhir-pep | CPU ratio (median) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
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
		lines, err := measureScenario(c, st, sc, rounds, d, warm, prof)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Println(strings.Join(lines, "\n"))
	}
	if only != "" && only != "stampede" {
		return nil
	}
	calls, ok, err := stampede(st, burst)
	if err != nil {
		return err
	}
	fmt.Printf("| %d concurrent requests, one new token: PCM introspections | | | %d (%d answered 200) | exactly 1 | | | | |\n", burst, calls, ok)
	fmt.Printf("\nratio = fhir-pep throughput / plain throughput, median of the rounds; added = fhir-pep latency - plain latency, median of the rounds.\n" +
		"CPU ratio = CPU per plain request / CPU per fhir-pep request, each the fhir-pep process's CPU plus this process's (load generator and stub) over the\n" +
		"measured round divided by its requests: what the throughput ratio would be on a machine the bench has to itself, and steadier than it.\n")
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

// measureScenario runs the alternating rounds: each round measures every
// site once, in an order rotated from round to round. With prof, the first
// round of each site runs under a CPU profile of its own, so the plain
// and the PEP site's profiles can be compared (the process serves both).
// It returns one table line per site other than plain.
func measureScenario(c *client, st *stack, sc scenario, rounds int, d, warm time.Duration, prof profiler) ([]string, error) {
	sites := st.sites()
	type series struct {
		ratios, tp, cpuRatios []float64
		addP50, addP99, cpu   []time.Duration
	}
	per := make([]series, len(sites))
	for r := range rounds {
		res := make([]round, len(sites))
		for k := range sites {
			i := (k + r) % len(sites)
			var rd round
			run := func() (err error) {
				rd, err = c.run(fmt.Sprintf("https://localhost:%d%s", sites[i].port, sc.path), c.conns, warm, d, st.pepPid)
				return err
			}
			var err error
			if prof != nil && r == 0 {
				err = prof(sites[i].name, run)
			} else {
				err = run()
			}
			if err != nil {
				return nil, fmt.Errorf("%s site: %w", sites[i].name, err)
			}
			res[i] = rd
		}
		plain := res[0]
		line := fmt.Sprintf("  round %d %-8s plain %6.0f req/s", r+1, sc.short(), plain.throughput())
		per[0].tp = append(per[0].tp, plain.throughput())
		per[0].cpu = append(per[0].cpu, plain.cpu.server)
		for i := 1; i < len(sites); i++ {
			x, s := res[i], &per[i]
			s.ratios = append(s.ratios, x.throughput()/plain.throughput())
			s.tp = append(s.tp, x.throughput())
			s.addP50 = append(s.addP50, x.quantile(0.50)-plain.quantile(0.50))
			s.addP99 = append(s.addP99, x.quantile(0.99)-plain.quantile(0.99))
			line += fmt.Sprintf("  %s %6.0f req/s ratio %.2f", sites[i].name, x.throughput(), s.ratios[len(s.ratios)-1])
			if plain.cpu.ok && x.cpu.ok {
				s.cpuRatios = append(s.cpuRatios, float64(plain.cpu.total())/float64(x.cpu.total()))
				s.cpu = append(s.cpu, x.cpu.server)
				line += fmt.Sprintf(" (CPU ratio %.2f)", s.cpuRatios[len(s.cpuRatios)-1])
			}
		}
		if plain.cpu.ok {
			line += "  CPU/req server+load:"
			for i, x := range res {
				line += fmt.Sprintf(" %s %s+%s", sites[i].name, us(x.cpu.server), us(x.cpu.harness))
			}
		}
		fmt.Fprintln(os.Stderr, line)
	}
	var lines []string
	for i := 1; i < len(sites); i++ {
		s := per[i]
		name, target := sc.name, fmt.Sprintf(">= %.2f", sc.target)
		switch sites[i].name {
		case "floor":
			name, target = "floor (answer held back + audit record, no checks): "+sc.short(), "(yardstick)"
		case "floor-capture":
			name, target = "floor, answer held back only: "+sc.short(), "(yardstick)"
		case "floor-audit":
			name, target = "floor, audit record only: "+sc.short(), "(yardstick)"
		}
		cpuCols := "| |"
		if len(s.cpuRatios) > 0 {
			cpuCols = fmt.Sprintf("| %s -> %s | %.2f (%s) |", us(medianDur(per[0].cpu)), us(medianDur(s.cpu)), median(s.cpuRatios), join(s.cpuRatios))
		}
		lines = append(lines, fmt.Sprintf("| %s | %.0f | %.0f | **%.2f** (%s) | %s | %s | %s %s", name, median(per[0].tp), median(s.tp), median(s.ratios), join(s.ratios), target,
			medianDur(s.addP50).Round(time.Microsecond), medianDur(s.addP99).Round(time.Microsecond), cpuCols))
	}
	return lines, nil
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

// us prints a duration in whole microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }

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
