// Command resolve-sim simulates the national patient-resolution service
// (DESIGN.md section 4b) for the fhir-pep demo and end-to-end tests, for
// `patient_resolver national`:
//
//	POST /api/v1/resolve  {"identifier": {"system": "...", "value": "..."}}
//	  200 {"patient_id": "<id>", "resource_reference": "Patient/<id>"}
//	  404 {"error": "patient_not_found"}          no active Patient carries it
//	  409 {"error": "duplicate_active_patient"}   more than one does
//	  401 without the right HTTP Basic credentials, 400 for a malformed body
//
// Its answers come from the demo FHIR server's data (-data, the Patients
// of examples/fhir-server/data), so it agrees with that server. It serves
// plain HTTP on a loopback address only (fhir-pep accepts http for the
// resolve url only on a loopback host); it logs one line per request with
// the status, never the identifier.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "resolve-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr         = flag.String("addr", "127.0.0.1:9446", "loopback listen address")
		data         = flag.String("data", "examples/fhir-server/data", "directory of the demo FHIR data (*.json)")
		user         = flag.String("user", "", "HTTP Basic user the caller must send (required)")
		passwordFile = flag.String("password-file", "", "file whose first line is the HTTP Basic password (required)")
	)
	flag.Parse()
	if *user == "" || *passwordFile == "" {
		return errors.New("-user and -password-file are required")
	}
	raw, err := os.ReadFile(*passwordFile)
	if err != nil {
		return err
	}
	password, _, _ := strings.Cut(string(raw), "\n")
	ix, err := loadIndex(*data)
	if err != nil {
		return err
	}
	r, err := newResolver(ix, *user, strings.TrimSpace(password), log.New(os.Stdout, "", log.LstdFlags))
	if err != nil {
		return err
	}
	// Loopback only: the simulator speaks plain HTTP with a password.
	ln, err := simhttp.ListenLoopback(*addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("resolve-sim ready: http://%s identifiers=%d\n", ln.Addr(), len(ix))
	return simhttp.Run(ctx, simhttp.Server{HTTP: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, Listener: ln})
}
