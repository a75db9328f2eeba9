// Command ntn-sim simulates the National Trusted Network's member manifest
// service for the fhir-pep demo and end-to-end tests.
//
// Public API (HTTPS, client certificate of a demo NTN member required):
//
//	GET /manifest            the signed manifest (compact JWS, application/jose)
//	GET /api/manifest        {"url": "<presigned URL>", "expires_at": ...}
//	GET /presigned/{token}   the signed manifest, while the link is valid
//
// Admin API (plain HTTP, loopback only, no authentication):
//
//	POST /admin/members/{id}/remove|suspend|restore
//	POST /admin/bump        re-sign with a higher version
//	GET  /admin/manifest    the current payload as JSON
//	POST /admin/outage      {"on": true} -> 503 on the public API
//	GET  /admin/stats       fetch counters and the current version
//
// The manifest format (DESIGN.md section 3) is documented in examples/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hdp-il/fhir-pep/examples/demopki"
	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ntn-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		pkiPath    = flag.String("pki", "examples/demo-state/pki", "demo PKI state directory or its pki.json (see demo-pki)")
		addr       = flag.String("addr", "127.0.0.1:9445", "HTTPS listen address of the public API")
		admin      = flag.String("admin", "127.0.0.1:9455", "loopback listen address of the admin API")
		publicURL  = flag.String("public-url", "", "base URL of presigned links (default https://localhost:<port>)")
		validity   = flag.Duration("validity", 24*time.Hour, "expires_at - issued_at of each manifest")
		presignTTL = flag.Duration("presign-ttl", 5*time.Minute, "lifetime of presigned URLs")
		statePath  = flag.String("state", "examples/demo-state/ntn-sim.json", "file persisting the version and member statuses across restarts (empty: none)")
	)
	flag.Parse()
	if *validity <= 0 || *presignTTL <= 0 {
		return fmt.Errorf("-validity and -presign-ttl must be positive")
	}
	pki, err := demopki.Load(*pkiPath)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		_, port, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
		*publicURL = "https://localhost:" + port
	}
	sim, err := newNTN(config{publicURL: *publicURL, validity: *validity, presignTTL: *presignTTL, statePath: *statePath}, pki, time.Now)
	if err != nil {
		return err
	}
	tlsConfig, err := pki.ServerTLSConfig(demopki.ServerNTN, sim.trust, time.Now)
	if err != nil {
		return err
	}
	publicLn, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	adminLn, err := simhttp.ListenLoopback(*admin)
	if err != nil {
		publicLn.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("ntn-sim ready: https://%s (manifest version %d), admin http://%s\n", publicLn.Addr(), sim.version, adminLn.Addr())
	return simhttp.Run(ctx,
		simhttp.Server{HTTP: &http.Server{Handler: sim.publicHandler(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}, Listener: publicLn, TLS: true},
		simhttp.Server{HTTP: &http.Server{Handler: sim.adminHandler(), ReadHeaderTimeout: 10 * time.Second}, Listener: adminLn},
	)
}
