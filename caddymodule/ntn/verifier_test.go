package ntn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// tlsServer is the server side of handshake tests: its own certificate
// and a tls.Config whose client authentication Caddy set up.
type tlsServer struct {
	cert  *ntntest.Issuer
	roots *x509.CertPool
	cfg   *tls.Config
}

func newTLSServer(t testing.TB) *tlsServer {
	t.Helper()
	cert := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "fhir.hmo-b.test", DNSNames: []string{"fhir.hmo-b.test"}})
	roots := x509.NewCertPool()
	roots.AddCert(cert.Cert)
	return &tlsServer{
		cert:  cert,
		roots: roots,
		cfg:   &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}, MinVersion: tls.VersionTLS12},
	}
}

// withClientAuth provisions a TLS connection policy through caddytls, as
// the http app does for "tls { client_auth { ... } }", and lets Caddy's
// own ClientAuthentication configure the server's tls.Config.
func (s *tlsServer) withClientAuth(t testing.TB, ctx caddy.Context, ca *caddytls.ClientAuthentication) *tlsServer {
	t.Helper()
	pol := &caddytls.ConnectionPolicy{ClientAuthentication: ca}
	if err := (caddytls.ConnectionPolicies{pol}).Provision(ctx); err != nil {
		t.Fatalf("provisioning the connection policy: %v", err)
	}
	if err := ca.ConfigureTLSConfig(s.cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// ntnClientAuth is `client_auth { mode require; verifier ntn }`.
func ntnClientAuth() *caddytls.ClientAuthentication {
	return &caddytls.ClientAuthentication{
		Mode:         "require",
		VerifiersRaw: []json.RawMessage{json.RawMessage(`{"verifier":"ntn"}`)},
	}
}

// staticPoolClientAuth is `client_auth { trust_pool inline <ca> }`: the
// classic static CA pool, verified by crypto/tls itself.
func staticPoolClientAuth(ca *x509.Certificate) *caddytls.ClientAuthentication {
	pool := map[string]any{"provider": "inline", "trusted_ca_certs": []string{base64.StdEncoding.EncodeToString(ca.Raw)}}
	raw, _ := json.Marshal(pool)
	return &caddytls.ClientAuthentication{Mode: "require_and_verify", CARaw: raw}
}

func (s *tlsServer) clientConfig(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: s.roots, ServerName: "fhir.hmo-b.test", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// newLoopback returns a TCP listener on the loopback interface. (net.Pipe
// is unbuffered, which deadlocks TLS 1.3 when both sides write a flight
// at once, e.g. session tickets in a resumption's first flight.)
func newLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// handshakeDeadline only guards against a hung test; no test waits for it.
const handshakeDeadline = 30 * time.Second

// handshake runs one TLS handshake over ln and returns the client's view
// of the connection and the server's verdict (with TLS 1.3 the client
// finishes before the server has checked its certificate, so the
// server's error is what counts).
func handshake(ln net.Listener, serverCfg, clientCfg *tls.Config) (tls.ConnectionState, error) {
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(handshakeDeadline))
		srv := tls.Server(conn, serverCfg)
		err = srv.Handshake()
		if err == nil {
			_, err = srv.Write([]byte("ok"))
		}
		serverErr <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(handshakeDeadline))
	cli := tls.Client(conn, clientCfg)
	err = cli.Handshake()
	if err == nil {
		_, err = io.ReadFull(cli, make([]byte, 2))
	}
	state := cli.ConnectionState()
	if sErr := <-serverErr; sErr != nil {
		return state, sErr
	}
	return state, err
}

// verifyingServer provisions the ntn app and a TLS server whose client
// certificates the ntn verifier checks, as "client_auth { mode require;
// verifier ntn }" does, and a loopback listener for handshakes.
func (e *testEnv) verifyingServer(t testing.TB) (caddy.Context, *App, *tlsServer, net.Listener) {
	t.Helper()
	ctx, app := e.provisionApp(t, e.appConfig())
	return ctx, app, newTLSServer(t).withClientAuth(t, ctx, ntnClientAuth()), newLoopback(t)
}

func TestVerifierHandshakes(t *testing.T) {
	env := newTestEnv(t)
	_, app, server, ln := env.verifyingServer(t)

	pinned := env.pinned.TLSCertificate()
	caIssued := env.caIssued.TLSCertificate()
	expired := env.expired.TLSCertificate()
	suspended := env.suspended.TLSCertificate()
	unknown := env.unknown.TLSCertificate()
	impostorCA := ntntest.NewRootCA(t, "org-b CA", ntntest.ECDSAP256)
	impostor := impostorCA.Issue(t, ntntest.CertOptions{CommonName: "org-b client"}).TLSCertificate()

	// Before the first manifest nobody gets in.
	if _, err := handshake(ln, server.cfg, server.clientConfig(&pinned)); err == nil || !strings.Contains(err.Error(), "no_manifest") {
		t.Fatalf("handshake before the first manifest: %v", err)
	}
	refresh(t, app)

	cases := []struct {
		name    string
		cert    *tls.Certificate
		maxVers uint16
		want    string // "" = accepted, else a fragment of the server's error
	}{
		{"pinned self-signed member", &pinned, 0, ""},
		{"pinned self-signed member, TLS 1.2", &pinned, tls.VersionTLS12, ""},
		{"CA-issued member", &caIssued, 0, ""},
		{"unknown certificate", &unknown, 0, "unknown_certificate"},
		{"expired certificate", &expired, 0, "rejected: expired"},
		{"suspended member", &suspended, 0, "member_inactive"},
		{"impostor CA with the member CA's name", &impostor, 0, "rejected: chain"},
		{"no client certificate", nil, 0, "client didn't provide a certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clientCfg := server.clientConfig(tc.cert)
			clientCfg.MaxVersion = tc.maxVers
			_, err := handshake(ln, server.cfg, clientCfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("handshake refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("handshake error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestVerifierRejectsStaleManifest(t *testing.T) {
	env := newTestEnv(t)
	_, app, server, ln := env.verifyingServer(t)
	refresh(t, app)
	pinned := env.pinned.TLSCertificate()
	if _, err := handshake(ln, server.cfg, server.clientConfig(&pinned)); err != nil {
		t.Fatal(err)
	}
	env.clock.Set(ntntest.Epoch.Add(24*time.Hour + time.Second)) // past max_staleness
	if _, err := handshake(ln, server.cfg, server.clientConfig(&pinned)); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("handshake with a stale manifest: %v", err)
	}
}

// A resumed TLS session skips certificate exchange; Caddy still runs the
// verifier (VerifyConnection), so a revoked member cannot resume either.
func TestVerifierRevocationReachesResumedSessions(t *testing.T) {
	env := newTestEnv(t)
	_, app, server, ln := env.verifyingServer(t)
	refresh(t, app)

	pinned := env.pinned.TLSCertificate()
	clientCfg := server.clientConfig(&pinned)
	clientCfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if _, err := handshake(ln, server.cfg, clientCfg); err != nil {
		t.Fatal(err)
	}
	state, err := handshake(ln, server.cfg, clientCfg)
	if err != nil || !state.DidResume {
		t.Fatalf("second handshake: resumed %v, err %v", state.DidResume, err)
	}

	env.publish(t, ntntest.ActiveMember("org-b", ntntest.CA(env.memberCA.Cert))) // org-a removed
	refresh(t, app)
	if _, err := handshake(ln, server.cfg, clientCfg); err == nil || !strings.Contains(err.Error(), "member_inactive") {
		t.Fatalf("resumption after revocation: %v", err)
	}
}

func TestVerifierNeedsTheApp(t *testing.T) {
	ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ctx.LoadModuleByID("tls.client_auth.verifier.ntn", json.RawMessage(`{}`))
	if err == nil || !strings.Contains(err.Error(), "needs the ntn app") {
		t.Fatalf("LoadModule without the ntn app: %v", err)
	}
	var v Verifier
	if err := v.VerifyClientCertificate([][]byte{{1}}, nil); err == nil {
		t.Fatal("unprovisioned verifier accepted a certificate")
	}
}

// When the ntn app is configured but cannot start (a missing trust anchor
// file), the verifier passes on the app's own error, which names the
// option, and does not claim that the ntn option is missing.
func TestVerifierReportsTheAppsError(t *testing.T) {
	env := newTestEnv(t)
	cfg := &caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}}
	ctx, err := caddy.ProvisionContext(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appCfg := env.appConfig()
	appCfg["trust_anchor"] = env.dir + "/missing-ta.pem"
	cfg.AppsRaw = caddy.ModuleMap{"ntn": mustJSON(t, appCfg)}
	_, err = withClock(ctx, env.clock.Now).LoadModuleByID("tls.client_auth.verifier.ntn", json.RawMessage(`{}`))
	if err == nil || !strings.Contains(err.Error(), "ntn trust_anchor: open ") || strings.Contains(err.Error(), "needs the ntn app") {
		t.Fatalf("LoadModule with a failing ntn app: %v", err)
	}
}

// BenchmarkHandshake compares a full TLS 1.3 handshake (ECDSA P-256, no
// resumption) with the ntn verifier (a CA-issued and a pinned member
// certificate) against the same handshake verified by crypto/tls against a
// static client CA pool, as Caddy's trust_pool does. The CA-issued client
// certificate is issued by the same CA in both.
func BenchmarkHandshake(b *testing.B) {
	cases := []struct {
		name       string
		clientAuth func(env *testEnv) *caddytls.ClientAuthentication
		cert       func(env *testEnv) tls.Certificate
	}{
		{"ntn_ca_issued", func(*testEnv) *caddytls.ClientAuthentication { return ntnClientAuth() }, func(env *testEnv) tls.Certificate { return env.caIssued.TLSCertificate() }},
		{"ntn_pinned", func(*testEnv) *caddytls.ClientAuthentication { return ntnClientAuth() }, func(env *testEnv) tls.Certificate { return env.pinned.TLSCertificate() }},
		{"static_pool", func(env *testEnv) *caddytls.ClientAuthentication { return staticPoolClientAuth(env.memberCA.Cert) }, func(env *testEnv) tls.Certificate { return env.caIssued.TLSCertificate() }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			env := newTestEnv(b)
			ctx, app := env.provisionApp(b, env.appConfig())
			refresh(b, app)
			server := newTLSServer(b).withClientAuth(b, ctx, tc.clientAuth(env))
			server.cfg.SessionTicketsDisabled = true
			cert := tc.cert(env)
			clientCfg := server.clientConfig(&cert)
			ln := newLoopback(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := handshake(ln, server.cfg, clientCfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A refused client certificate is logged at INFO, the default level, with
// the reason, the member (when the certificate is a member's) and the
// thumbprint, and never the certificate itself. An accepted one is not
// logged at all.
func TestVerifierLogsRefusals(t *testing.T) {
	env := newTestEnv(t)
	_, app := env.provisionApp(t, env.appConfig())
	refresh(t, app)
	core, logs := observer.New(zapcore.InfoLevel)
	v := &Verifier{app: app, logger: zap.New(core)}

	check := func(name string, leaf *ntntest.Issuer, wantReason, wantMember string) {
		t.Helper()
		logs.TakeAll()
		err := v.VerifyClientCertificate([][]byte{leaf.Cert.Raw}, nil)
		entries := logs.TakeAll()
		if wantReason == "" {
			if err != nil || len(entries) != 0 {
				t.Fatalf("%s: err %v, %d log entries; want accepted silently", name, err, len(entries))
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), wantReason) {
			t.Fatalf("%s: err = %v, want %s", name, err, wantReason)
		}
		if len(entries) != 1 || entries[0].Level != zapcore.InfoLevel {
			t.Fatalf("%s: log entries %+v, want one at INFO", name, entries)
		}
		fields := entries[0].ContextMap()
		if fields["reason"] != wantReason || fields["member_id"] != wantMember || fields["thumbprint"] != ntntest.Thumbprint(leaf.Cert) {
			t.Fatalf("%s: fields %v, want reason %s, member_id %q and the thumbprint", name, fields, wantReason, wantMember)
		}
		der := base64.StdEncoding.EncodeToString(leaf.Cert.Raw)
		for k, val := range fields {
			if s := fmt.Sprint(val); strings.Contains(s, der[:40]) || strings.Contains(s, "BEGIN CERTIFICATE") {
				t.Fatalf("%s: field %s carries the certificate: %s", name, k, s)
			}
		}
	}
	check("member", env.pinned, "", "")
	check("certificate of no member", env.unknown, "unknown_certificate", "")
	check("suspended member", env.suspended, "member_inactive", "org-c")
	check("expired certificate", env.expired, "expired", "org-a")

	env.publish(t, ntntest.ActiveMember("org-b", ntntest.CA(env.memberCA.Cert))) // NTN removes org-a and org-c
	refresh(t, app)
	check("removed member", env.pinned, "member_inactive", "org-a")
	check("member still listed", env.caIssued, "", "")
}
