// Command pcm-sim simulates PCM (Patient Consent Management) for the
// fhir-pep demo and end-to-end tests.
//
// Public API (HTTPS, client certificate of a demo NTN member required):
//
//	POST /token       client_credentials + private_key_jwt -> PCM access token (30 s)
//	POST /introspect  RFC 7662, Authorization: Bearer <PCM access token>
//
// Admin API (plain HTTP, loopback only, no authentication):
//
//	POST /admin/tokens               mint a service provider token
//	POST /admin/tokens/{ref}/revoke  revoke by id (jti) or token
//	POST /admin/outage               {"on": true} -> 503 on the public API
//	GET  /admin/stats                call counters
//
// See examples/README.md for the request bodies.
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
		fmt.Fprintln(os.Stderr, "pcm-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		pkiPath  = flag.String("pki", "examples/demo-state/pki", "demo PKI state directory or its pki.json (see demo-pki)")
		addr     = flag.String("addr", "127.0.0.1:9444", "HTTPS listen address of the public API")
		admin    = flag.String("admin", "127.0.0.1:9454", "loopback listen address of the admin API")
		tokenURL = flag.String("token-url", "", "public URL of /token, the audience of client assertions (default https://localhost:<port>/token)")
		issuer   = flag.String("issuer", "https://pcm.fhir.health.gov.il/", "iss of introspection responses")
		clientID = flag.String("client-id", "http://pcm.fhir.health.gov.il/organization/633", "PCM client id of the data source")
		member   = flag.String("client-member", "org-ds-hmo-b", "NTN member whose certificate must authenticate -client-id")
		resource = flag.String("resource", "https://localhost:9443/fhir/R4", "default aud of minted tokens: the PEP's public FHIR base (its resource setting)")
		tokenTTL = flag.Duration("token-ttl", 30*time.Second, "lifetime of PCM's own access tokens")
	)
	flag.Parse()

	pki, err := demopki.Load(*pkiPath)
	if err != nil {
		return err
	}
	if *tokenURL == "" {
		_, port, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
		*tokenURL = "https://localhost:" + port + "/token"
	}
	sim, err := newPCM(config{
		tokenURL:             *tokenURL,
		issuer:               *issuer,
		clientID:             *clientID,
		clientMember:         *member,
		resource:             *resource,
		accessTokenTTL:       *tokenTTL,
		maxAssertionLifetime: 5 * time.Minute,
	}, pki, time.Now)
	if err != nil {
		return err
	}
	tlsConfig, err := pki.ServerTLSConfig(demopki.ServerPCM, sim.trust, time.Now)
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
	fmt.Printf("pcm-sim ready: https://%s (token URL %s), admin http://%s\n", publicLn.Addr(), *tokenURL, adminLn.Addr())
	return simhttp.Run(ctx,
		simhttp.Server{HTTP: &http.Server{Handler: sim.publicHandler(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}, Listener: publicLn, TLS: true},
		simhttp.Server{HTTP: &http.Server{Handler: sim.adminHandler(), ReadHeaderTimeout: 10 * time.Second}, Listener: adminLn},
	)
}
