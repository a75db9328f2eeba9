package ntn

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hdp-il/fhir-pep/internal/testclock"
	"github.com/hdp-il/fhir-pep/trust"
	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// testEnv is an NTN world on disk: trust anchor, manifest file (file mode),
// state_dir, and the members' client certificates.
type testEnv struct {
	dir          string
	clock        *testclock.Clock
	pki          *ntntest.PKI
	taFile       string
	manifestFile string
	stateDir     string

	pinned      *ntntest.Issuer // org-a, self-signed, pinned
	memberCA    *ntntest.Issuer // org-b's CA
	caIssued    *ntntest.Issuer // org-b client, issued by memberCA
	expired     *ntntest.Issuer // org-a, pinned but expired
	suspended   *ntntest.Issuer // org-c (suspended), pinned
	unknown     *ntntest.Issuer
	dataSource  *ntntest.Issuer // this data source's own NTN certificate
	certFile    string
	keyFile     string
	nextVersion int64
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	clock := testclock.New(ntntest.Epoch)
	dir := t.TempDir()
	e := &testEnv{
		dir:          dir,
		clock:        clock,
		pki:          ntntest.NewPKI(t, ntntest.ECDSAP256),
		taFile:       filepath.Join(dir, "ntn-ta.pem"),
		manifestFile: filepath.Join(dir, "manifest.jws"),
		stateDir:     filepath.Join(dir, "state"),
		certFile:     filepath.Join(dir, "ntn.crt"),
		keyFile:      filepath.Join(dir, "ntn.key"),
	}
	e.pinned = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-a client"})
	e.memberCA = ntntest.NewRootCA(t, "org-b CA", ntntest.ECDSAP256)
	e.caIssued = e.memberCA.Issue(t, ntntest.CertOptions{CommonName: "org-b client"})
	e.expired = ntntest.SelfSigned(t, ntntest.CertOptions{
		CommonName: "org-a old", NotBefore: ntntest.Epoch.Add(-400 * 24 * time.Hour), NotAfter: ntntest.Epoch.Add(-time.Hour),
	})
	e.suspended = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-c client"})
	e.unknown = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "stranger"})
	e.dataSource = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "this data source"})
	writeFile(t, e.taFile, ntntest.CertPEM(e.pki.TrustAnchor.Cert))
	writeFile(t, e.certFile, ntntest.CertPEM(e.dataSource.Cert))
	writeFile(t, e.keyFile, ntntest.KeyPEM(t, e.dataSource.Key))
	e.publish(t, e.members()...)
	return e
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// members are the standard members: org-a pins two certificates, org-b
// trusts its CA, org-c is suspended.
func (e *testEnv) members() []ntntest.Member {
	suspended := ntntest.ActiveMember("org-c", ntntest.TLS(e.suspended.Cert))
	suspended.Status = "suspended"
	return []ntntest.Member{
		ntntest.ActiveMember("org-a", ntntest.TLS(e.pinned.Cert), ntntest.TLS(e.expired.Cert)),
		ntntest.ActiveMember("org-b", ntntest.CA(e.memberCA.Cert)),
		suspended,
	}
}

// publish writes the next manifest version to the manifest file.
func (e *testEnv) publish(t testing.TB, members ...ntntest.Member) {
	t.Helper()
	e.nextVersion++
	writeFile(t, e.manifestFile, e.pki.Signer().SignManifest(t, ntntest.NewManifest(e.nextVersion, members...)))
}

// appConfig is the ntn app's JSON in file mode.
func (e *testEnv) appConfig() map[string]any {
	return map[string]any{
		"file":         e.manifestFile,
		"trust_anchor": e.taFile,
		"client_cert":  e.certFile,
		"client_key":   e.keyFile,
		"state_dir":    e.stateDir,
	}
}

// provisionApp loads a Caddy config holding the ntn app without starting
// it, as `caddy validate` and the first half of `caddy run` do, and returns
// the context and the app, which runs on the environment's clock. The app
// is added to the config after Caddy has provisioned the rest, so that it
// is provisioned through a context that carries the clock; modules that
// look it up (the verifier) find it as in a real config.
func (e *testEnv) provisionApp(t testing.TB, appCfg map[string]any) (caddy.Context, *App) {
	t.Helper()
	cfg := &caddy.Config{
		Admin:   &caddy.AdminConfig{Disabled: true, Config: &caddy.ConfigSettings{Persist: new(bool)}},
		Logging: &caddy.Logging{Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: "ERROR"}}}},
	}
	ctx, err := caddy.ProvisionContext(cfg)
	if err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	cfg.AppsRaw = caddy.ModuleMap{"ntn": mustJSON(t, appCfg)}
	ctx = withClock(ctx, e.clock.Now)
	appVal, err := ctx.App("ntn")
	if err != nil {
		t.Fatal(err)
	}
	app := appVal.(*App)
	t.Cleanup(func() {
		if err := app.Stop(); err != nil {
			t.Error(err)
		}
		if err := app.Cleanup(); err != nil {
			t.Error(err)
		}
	})
	return ctx, app
}

// withClock returns ctx carrying a clock for the apps provisioned with it.
func withClock(ctx caddy.Context, now func() time.Time) caddy.Context {
	ctx.Context = context.WithValue(ctx.Context, clockKey{}, now)
	return ctx
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func refresh(t testing.TB, app *App) {
	t.Helper()
	if err := app.runtime.store.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func TestAppVerifyPeer(t *testing.T) {
	env := newTestEnv(t)
	_, app := env.provisionApp(t, env.appConfig())

	if _, err := app.VerifyPeer(env.pinned.Cert, nil); trust.ReasonOf(err) != trust.ReasonNoManifest {
		t.Fatalf("before the first manifest: %v", err)
	}
	if app.Snapshot() != nil {
		t.Fatal("snapshot before the first refresh")
	}
	refresh(t, app)

	cases := []struct {
		name       string
		leaf       *ntntest.Issuer
		wantMember string
		wantReason trust.Reason
	}{
		{"pinned self-signed member", env.pinned, "org-a", ""},
		{"CA-issued member", env.caIssued, "org-b", ""},
		{"unknown", env.unknown, "", trust.ReasonUnknownCertificate},
		{"expired", env.expired, "org-a", trust.ReasonExpired},
		{"suspended member", env.suspended, "org-c", trust.ReasonMemberInactive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			member, err := app.VerifyPeer(tc.leaf.Cert, nil)
			if member != tc.wantMember || trust.ReasonOf(err) != tc.wantReason || (err == nil) != (tc.wantReason == "") {
				t.Fatalf("VerifyPeer = (%q, %v), want (%q, %q)", member, err, tc.wantMember, tc.wantReason)
			}
		})
	}
	if v := app.Snapshot().Version(); v != 1 {
		t.Fatalf("Snapshot().Version() = %d", v)
	}
	if cert, key := app.ClientCertificateFiles(); cert != env.certFile || key != env.keyFile {
		t.Fatalf("ClientCertificateFiles = %q, %q", cert, key)
	}
}

func TestAppOnRevoke(t *testing.T) {
	env := newTestEnv(t)
	_, app := env.provisionApp(t, env.appConfig())
	var got [][]string
	app.OnRevoke(func(thumbprints []string) { got = append(got, thumbprints) })
	refresh(t, app) // v1: nothing revoked yet
	if len(got) != 0 {
		t.Fatalf("revocations on the first manifest: %v", got)
	}

	env.publish(t, ntntest.ActiveMember("org-b", ntntest.CA(env.memberCA.Cert))) // org-a and org-c gone
	refresh(t, app)
	want := []string{ntntest.Thumbprint(env.pinned.Cert), ntntest.Thumbprint(env.expired.Cert)}
	slices.Sort(want)
	if len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("OnRevoke got %v, want [%v]", got, want)
	}
	// NTN removed org-a: its certificate is refused as its member's, not
	// as an unknown one (docs/ntn.md).
	if member, err := app.VerifyPeer(env.pinned.Cert, nil); member != "org-a" || trust.ReasonOf(err) != trust.ReasonMemberInactive {
		t.Fatalf("revoked certificate: (%q, %v), want org-a refused as member_inactive", member, err)
	}
	if _, err := app.VerifyPeer(env.unknown.Cert, nil); trust.ReasonOf(err) != trust.ReasonUnknownCertificate {
		t.Fatalf("certificate of no member: %v", err)
	}
}

func TestAppRestartUsesStateDir(t *testing.T) {
	env := newTestEnv(t)
	_, first := env.provisionApp(t, env.appConfig())
	refresh(t, first)
	if err := first.Cleanup(); err != nil {
		t.Fatal(err)
	}

	// The manifest source disappears; a new process (config) still trusts
	// the members from state_dir, without any fetch.
	if err := os.Remove(env.manifestFile); err != nil {
		t.Fatal(err)
	}
	_, second := env.provisionApp(t, env.appConfig())
	if member, err := second.VerifyPeer(env.pinned.Cert, nil); err != nil || member != "org-a" {
		t.Fatalf("after restart: (%q, %v)", member, err)
	}
}

func TestAppSharesRuntimeAcrossReloads(t *testing.T) {
	env := newTestEnv(t)
	_, first := env.provisionApp(t, env.appConfig())
	_, same := env.provisionApp(t, env.appConfig())
	if first.runtime != same.runtime {
		t.Fatal("identical configs got different runtimes")
	}
	changed := env.appConfig()
	changed["refresh"] = "10m"
	_, other := env.provisionApp(t, changed)
	if other.runtime == first.runtime {
		t.Fatal("a changed config reused the runtime")
	}

	// Rotating the client certificate file under the same path is a change.
	rotated := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "rotated"})
	writeFile(t, env.certFile, ntntest.CertPEM(rotated.Cert))
	writeFile(t, env.keyFile, ntntest.KeyPEM(t, rotated.Key))
	_, afterRotation := env.provisionApp(t, env.appConfig())
	if afterRotation.runtime == first.runtime {
		t.Fatal("a rotated client certificate reused the runtime")
	}

	// Start/Stop are reference counted: the reload's new config starts
	// before the old one stops, and the loop must survive.
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	if err := same.Start(); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(first.runtime.users); n != 1 {
		t.Fatalf("%d users after one of two configs stopped", n)
	}
	if err := same.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(first.runtime.users); n != 0 {
		t.Fatalf("%d users after both stopped", n)
	}
}

func TestAppStartFetchesInBackground(t *testing.T) {
	env := newTestEnv(t)
	_, app := env.provisionApp(t, env.appConfig())
	swapped := make(chan int64, 1)
	unsubscribe := app.runtime.store.Subscribe(func(_, next *trust.Snapshot) { swapped <- next.Version() })
	defer unsubscribe()
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	if v := <-swapped; v != 1 {
		t.Fatalf("background refresh installed version %d", v)
	}
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestAppProvisionErrors(t *testing.T) {
	env := newTestEnv(t)
	notPEM := filepath.Join(env.dir, "not.pem")
	writeFile(t, notPEM, []byte("hello"))
	keyAsTA := filepath.Join(env.dir, "key-as-ta.pem")
	writeFile(t, keyAsTA, ntntest.KeyPEM(t, env.dataSource.Key))
	otherKey := filepath.Join(env.dir, "other.key")
	writeFile(t, otherKey, ntntest.KeyPEM(t, ntntest.NewKey(t, ntntest.ECDSAP256)))
	corruptState := filepath.Join(env.dir, "corrupt-state")
	if err := os.MkdirAll(corruptState, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(corruptState, trust.StateFileName), []byte("{"))

	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"no source", func(m map[string]any) { delete(m, "file") }, "ntn: one of manifest_url, api_url and file is required"},
		{"two sources", func(m map[string]any) { m["manifest_url"] = "https://ntn.example/m" }, "ntn file: only one of manifest_url, api_url and file"},
		{"no trust anchor", func(m map[string]any) { delete(m, "trust_anchor") }, "ntn trust_anchor: is required"},
		{"missing trust anchor file", func(m map[string]any) { m["trust_anchor"] = filepath.Join(env.dir, "nope.pem") }, "ntn trust_anchor: open "},
		{"trust anchor not PEM", func(m map[string]any) { m["trust_anchor"] = notPEM }, "no PEM certificate"},
		{"trust anchor holds a key", func(m map[string]any) { m["trust_anchor"] = keyAsTA }, "unexpected PEM block"},
		{"key does not match certificate", func(m map[string]any) { m["client_key"] = otherKey }, "client_cert/client_key"},
		{"URL mode without client certificate", func(m map[string]any) {
			delete(m, "file")
			delete(m, "client_cert")
			delete(m, "client_key")
			m["api_url"] = "https://ntn.example/api"
		}, "ntn api_url: needs client_cert and client_key"},
		{"http URL", func(m map[string]any) { delete(m, "file"); m["manifest_url"] = "http://ntn.example/m" }, "https"},
		{"server_ca in file mode", func(m map[string]any) { m["server_ca"] = env.taFile }, "ntn server_ca: only applies"},
		{"refresh too short", func(m map[string]any) { m["refresh"] = "1s" }, "ntn refresh: must be at least 10s"},
		{"max_staleness below refresh", func(m map[string]any) { m["refresh"] = "1h"; m["max_staleness"] = "30m" }, "ntn max_staleness: must be at least refresh"},
		{"corrupt state file", func(m map[string]any) { m["state_dir"] = corruptState }, "state"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.appConfig()
			tc.mutate(cfg)
			app := new(App)
			if err := json.Unmarshal(mustJSON(t, cfg), app); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := app.Provision(ctx)
			defer app.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAppPlaceholders(t *testing.T) {
	env := newTestEnv(t)
	t.Setenv("FHIR_PEP_TEST_NTN_DIR", env.dir)
	cfg := env.appConfig()
	cfg["file"] = "{env.FHIR_PEP_TEST_NTN_DIR}/manifest.jws"
	_, app := env.provisionApp(t, cfg)
	refresh(t, app)
	if app.File != "{env.FHIR_PEP_TEST_NTN_DIR}/manifest.jws" {
		t.Fatalf("the configured value was rewritten: %q", app.File)
	}
}

func TestAppNotProvisioned(t *testing.T) {
	var app App
	if _, err := app.VerifyPeer(&x509.Certificate{}, nil); err == nil {
		t.Fatal("VerifyPeer on an unprovisioned app succeeded")
	}
	if app.Snapshot() != nil || !app.Stats().Stale {
		t.Fatal("unprovisioned app reports a manifest")
	}
	if err := app.Start(); err == nil {
		t.Fatal("Start on an unprovisioned app succeeded")
	}
}
