package ntn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/trust"
)

func init() {
	caddy.RegisterModule(App{})
}

// minRefresh keeps a typo such as "refresh 5s" from hammering NTN.
const minRefresh = 10 * time.Second

// clockKey is the key of a context value that replaces the app's clock.
// Caddy builds the app from its JSON, so the clock cannot be a config
// field; tests put a fake clock in the context they provision the app with,
// and Caddy's own contexts carry none, so the app runs on time.Now.
type clockKey struct{}

// clockOf returns the clock carried by ctx, or time.Now.
func clockOf(ctx context.Context) func() time.Time {
	if now, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
		return now
	}
	return time.Now
}

// runtimes shares one manifest Store (and its refresh loop) between
// configurations with identical ntn settings, so a config reload neither
// refetches the manifest nor resets its counters and staleness clock.
var runtimes = caddy.NewUsagePool()

// App is the ntn app: it owns the National Trusted Network member
// manifest, keeps it fresh in the background, and answers whether a client
// certificate belongs to an active NTN member. The TLS verifier
// tls.client_auth.verifier.ntn and the fhir_pep handler both ask it.
//
// Until a manifest has been verified (fetched, or loaded from state_dir),
// and whenever the manifest is stale (past its expires_at, or no
// successful refresh within max_staleness), every client certificate is
// rejected. The manifest format is documented in docs/ntn.md.
type App struct {
	// ManifestURL is fetched with GET and must answer with the manifest
	// JWS. Exactly one of ManifestURL, APIURL and File is required.
	ManifestURL string `json:"manifest_url,omitempty"`
	// APIURL is fetched with GET and must answer {"url": "<presigned URL>"};
	// the manifest JWS is then fetched from that URL (https only).
	APIURL string `json:"api_url,omitempty"`
	// File is a local manifest JWS, re-read on every refresh (air-gapped
	// setups, tests).
	File string `json:"file,omitempty"`

	// TrustAnchor is a PEM file with the NTN trust anchor certificate(s)
	// that the manifest's x5c chain must lead to. Required.
	TrustAnchor string `json:"trust_anchor,omitempty"`
	// ClientCert and ClientKey are PEM files of this data source's NTN
	// certificate, presented to NTN (mTLS). Required with manifest_url and
	// api_url. The fhir_pep handler reuses them for PCM by default.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	// ServerCA is a PEM file with the CA certificate(s) that verify NTN's
	// HTTPS server certificate. Default: the system roots. The server
	// certificate is always verified.
	ServerCA string `json:"server_ca,omitempty"`

	// Refresh is the manifest refresh interval. Default 5m, minimum 10s.
	Refresh caddy.Duration `json:"refresh,omitempty"`
	// MaxStaleness is how long after the last successful refresh the
	// manifest is still used. Default 24h; at least Refresh.
	MaxStaleness caddy.Duration `json:"max_staleness,omitempty"`
	// Timeout bounds one refresh, all requests included. Default 30s; at
	// most Refresh.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// StateDir keeps the last accepted manifest, its version (rollback
	// protection) and the time of the last successful refresh across
	// restarts. Default: "fhir-pep/ntn" in Caddy's data directory.
	StateDir string `json:"state_dir,omitempty"`

	// resolved is the configuration after placeholders and defaults.
	resolved *App

	logger      *zap.Logger
	now         func() time.Time
	runtime     *sharedRuntime
	poolKey     string
	unsubscribe func()
	collector   *collector
	revoke      *revokeFanout
}

// revokeFanout holds the OnRevoke listeners of one app instance.
type revokeFanout struct {
	mu  sync.Mutex
	fns []func(thumbprints []string)
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ntn",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision loads the trust anchor, client certificate and server CA
// files, and builds (or reuses, across reloads) the manifest Store, which
// loads state_dir. It does no network I/O: the first fetch happens in Start.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.now = clockOf(ctx)
	a.resolved = a.resolve(caddy.NewReplacer())
	cfg := a.resolved
	if option, err := cfg.checkConfig(); err != nil {
		return optionError(option, err)
	}
	in, err := loadInputs(cfg)
	if err != nil {
		return err
	}
	key := runtimeKey(cfg, in)
	val, _, err := runtimes.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newSharedRuntime(cfg, in, a.logger, a.now)
	})
	if err != nil {
		return fmt.Errorf("ntn: %w", err)
	}
	a.runtime, a.poolKey = val.(*sharedRuntime), key
	a.revoke = new(revokeFanout)
	a.unsubscribe = a.runtime.store.Subscribe(a.handleSwap)

	collector, err := registerCollector(ctx.GetMetricsRegistry(), a)
	if err != nil {
		return fmt.Errorf("ntn: metrics: %w", err)
	}
	a.collector = collector
	return nil
}

// resolve returns a copy of the configuration with placeholders such as
// {env.NTN_URL} replaced (at provision time, never at adapt time) and
// defaults filled in.
func (a *App) resolve(repl *caddy.Replacer) *App {
	r := &App{
		ManifestURL:  repl.ReplaceKnown(a.ManifestURL, ""),
		APIURL:       repl.ReplaceKnown(a.APIURL, ""),
		File:         repl.ReplaceKnown(a.File, ""),
		TrustAnchor:  repl.ReplaceKnown(a.TrustAnchor, ""),
		ClientCert:   repl.ReplaceKnown(a.ClientCert, ""),
		ClientKey:    repl.ReplaceKnown(a.ClientKey, ""),
		ServerCA:     repl.ReplaceKnown(a.ServerCA, ""),
		StateDir:     repl.ReplaceKnown(a.StateDir, ""),
		Refresh:      a.Refresh,
		MaxStaleness: a.MaxStaleness,
		Timeout:      a.Timeout,
	}
	if r.Refresh == 0 {
		r.Refresh = caddy.Duration(trust.DefaultRefresh)
	}
	if r.MaxStaleness == 0 {
		r.MaxStaleness = caddy.Duration(trust.DefaultMaxStaleness)
	}
	if r.Timeout == 0 {
		r.Timeout = caddy.Duration(min(trust.DefaultTimeout, time.Duration(r.Refresh)))
	}
	if r.StateDir == "" {
		r.StateDir = filepath.Join(caddy.AppDataDir(), "fhir-pep", "ntn")
	}
	return r
}

// checkConfig is the static part of validation: it runs on the Caddyfile
// (before defaults) and again in Provision (after them). It names the
// option to blame, so that the Caddyfile error points at its line (or, for
// a missing option, at the ntn block).
func (a *App) checkConfig() (option string, err error) {
	var sources []string
	for _, s := range []struct{ option, value string }{
		{"manifest_url", a.ManifestURL}, {"api_url", a.APIURL}, {"file", a.File},
	} {
		if s.value != "" {
			sources = append(sources, s.option)
		}
	}
	switch {
	case len(sources) == 0:
		return "", errors.New("one of manifest_url, api_url and file is required")
	case len(sources) > 1:
		return sources[1], fmt.Errorf("only one of manifest_url, api_url and file may be set (%s is set too)", sources[0])
	case a.TrustAnchor == "":
		return "trust_anchor", errors.New("is required")
	case a.ClientCert != "" && a.ClientKey == "":
		return "client_cert", errors.New("needs client_key")
	case a.ClientKey != "" && a.ClientCert == "":
		return "client_key", errors.New("needs client_cert")
	case a.File == "" && a.ClientCert == "":
		return sources[0], errors.New("needs client_cert and client_key (NTN requires mTLS)")
	case a.File != "" && a.ServerCA != "":
		return "server_ca", errors.New("only applies to manifest_url and api_url")
	case a.Refresh < 0:
		return "refresh", errors.New("must be positive")
	case a.MaxStaleness < 0:
		return "max_staleness", errors.New("must be positive")
	case a.Timeout < 0:
		return "timeout", errors.New("must be positive")
	case a.Refresh != 0 && time.Duration(a.Refresh) < minRefresh:
		return "refresh", fmt.Errorf("must be at least %s", minRefresh)
	case a.Refresh != 0 && a.MaxStaleness != 0 && a.MaxStaleness < a.Refresh:
		return "max_staleness", errors.New("must be at least refresh, or the manifest goes stale between refreshes")
	case a.Refresh != 0 && a.Timeout > a.Refresh:
		return "timeout", errors.New("must not exceed refresh")
	}
	return "", nil
}

// optionError prefixes err with the option it is about, as in
// "ntn refresh: must be at least 10s"; option "" is the block as a whole.
func optionError(option string, err error) error {
	if option == "" {
		return fmt.Errorf("ntn: %w", err)
	}
	return fmt.Errorf("ntn %s: %w", option, err)
}

// inputs are the loaded files, and their digest for the pool key.
type inputs struct {
	anchors    []*x509.Certificate
	clientCert *tls.Certificate
	serverCAs  *x509.CertPool
	digest     []byte
}

// loadInputs reads the files the configuration names. Every error names
// the option ("ntn trust_anchor: open ...: no such file or directory"), so
// the operator knows which line to fix.
func loadInputs(cfg *App) (*inputs, error) {
	h := sha256.New()
	read := func(name, path string) ([]byte, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ntn %s: %w", name, err)
		}
		h.Write([]byte(name))
		sum := sha256.Sum256(data)
		h.Write(sum[:])
		return data, nil
	}
	in := &inputs{}
	data, err := read("trust_anchor", cfg.TrustAnchor)
	if err != nil {
		return nil, err
	}
	if in.anchors, err = parsePEMCertificates(data); err != nil {
		return nil, fmt.Errorf("ntn trust_anchor %s: %w", cfg.TrustAnchor, err)
	}
	if cfg.ClientCert != "" {
		certPEM, err := read("client_cert", cfg.ClientCert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := read("client_key", cfg.ClientKey)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The error of X509KeyPair never contains key material.
			return nil, fmt.Errorf("ntn client_cert/client_key: %w", err)
		}
		in.clientCert = &pair
	}
	if cfg.ServerCA != "" {
		data, err := read("server_ca", cfg.ServerCA)
		if err != nil {
			return nil, err
		}
		certs, err := parsePEMCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("ntn server_ca %s: %w", cfg.ServerCA, err)
		}
		in.serverCAs = x509.NewCertPool()
		for _, c := range certs {
			in.serverCAs.AddCert(c)
		}
	}
	in.digest = h.Sum(nil)
	return in, nil
}

// parsePEMCertificates returns every certificate of a PEM file, which
// must hold certificates and nothing else.
func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// runtimeKey identifies a runtime by everything that shapes it: the
// resolved settings and the contents of the files they name.
func runtimeKey(cfg *App, in *inputs) string {
	settings, _ := json.Marshal(cfg)
	h := sha256.New()
	h.Write(settings)
	h.Write(in.digest)
	return "ntn:" + hex.EncodeToString(h.Sum(nil))
}

// Start launches the refresh loop (first fetch at once), unless a config
// sharing this runtime already did.
func (a *App) Start() error {
	if a.runtime == nil {
		return errors.New("ntn: not provisioned")
	}
	a.runtime.start(a)
	return nil
}

// Stop stops the refresh loop unless another running config shares it.
func (a *App) Stop() error {
	if a.runtime != nil {
		a.runtime.stop(a)
	}
	return nil
}

// Cleanup drops this config's revocation listeners and its reference to
// the shared runtime; the last reference stops and frees it.
func (a *App) Cleanup() error {
	if a.unsubscribe != nil {
		a.unsubscribe()
		a.unsubscribe = nil
	}
	if a.collector != nil {
		a.collector.detach(a)
	}
	if a.poolKey != "" {
		_, err := runtimes.Delete(a.poolKey)
		a.poolKey = ""
		return err
	}
	return nil
}

// VerifyPeer reports which active NTN member a client certificate belongs
// to, using the current manifest. The fhir_pep handler calls it on every
// request, so a revocation also reaches connections that are already
// open. With an error, the member id is set when known (e.g. a suspended
// member); trust.ReasonOf(err) gives the reason.
func (a *App) VerifyPeer(leaf *x509.Certificate, intermediates []*x509.Certificate) (memberID string, err error) {
	if a.runtime == nil {
		return "", errors.New("ntn: not provisioned")
	}
	return a.runtime.store.VerifyLeaf(leaf, intermediates)
}

// verifyHandshake is VerifyPeer for the raw chain of a TLS handshake; it
// counts rejections for the handshake metric.
func (a *App) verifyHandshake(rawCerts [][]byte) (string, error) {
	if a.runtime == nil {
		return "", errors.New("ntn: not provisioned")
	}
	member, err := a.runtime.store.VerifyRawChain(rawCerts)
	if err != nil {
		a.runtime.countRejection(trust.ReasonOf(err))
	}
	return member, err
}

// Snapshot returns the current manifest snapshot (nil before the first).
// It may be stale; VerifyPeer applies staleness.
func (a *App) Snapshot() *trust.Snapshot {
	if a.runtime == nil {
		return nil
	}
	return a.runtime.store.Snapshot()
}

// Stats returns the manifest store's counters and facts.
func (a *App) Stats() trust.Stats {
	if a.runtime == nil {
		return trust.Stats{Stale: true}
	}
	return a.runtime.store.Stats()
}

// OnRevoke registers fn to be called, after a new manifest is in force,
// with the thumbprints (base64url SHA-256, as in cnf.x5t#S256) of pinned
// certificates that are no longer trusted. Callers use it to drop cached
// state bound to those certificates at once. Certificates trusted through
// a member CA cannot be listed; VerifyPeer still rejects them.
// Call it after the app is provisioned (ctx.App and ctx.AppIfConfigured
// return provisioned apps); before that there is nothing to listen to.
func (a *App) OnRevoke(fn func(thumbprints []string)) {
	if a.revoke == nil {
		return
	}
	a.revoke.mu.Lock()
	defer a.revoke.mu.Unlock()
	a.revoke.fns = append(a.revoke.fns, fn)
}

func (a *App) handleSwap(old, next *trust.Snapshot) {
	removed := trust.RemovedThumbprints(old, next)
	if len(removed) == 0 {
		return
	}
	a.revoke.mu.Lock()
	fns := append([]func([]string){}, a.revoke.fns...)
	a.revoke.mu.Unlock()
	a.logger.Info("NTN manifest revoked pinned certificates",
		zap.Int64("version", next.Version()), zap.Int("certificates", len(removed)))
	for _, fn := range fns {
		fn(removed)
	}
}

// ClientCertificateFiles returns the data source's NTN client certificate
// and key files (after placeholder replacement), for the fhir_pep
// handler's PCM client.
func (a *App) ClientCertificateFiles() (certFile, keyFile string) {
	if a.resolved == nil {
		return "", ""
	}
	return a.resolved.ClientCert, a.resolved.ClientKey
}

// sharedRuntime is what survives config reloads: the Store, its refresh loop
// and the handshake rejection counters.
type sharedRuntime struct {
	store      *trust.Store
	rejections map[trust.Reason]*atomic.Uint64

	mu     sync.Mutex
	users  []*App // started configs using this runtime, oldest first
	cancel context.CancelFunc
	done   chan struct{}
}

// otherReason counts rejections whose error has no trust.Reason.
const otherReason trust.Reason = "other"

func newSharedRuntime(cfg *App, in *inputs, logger *zap.Logger, now func() time.Time) (*sharedRuntime, error) {
	var src trust.Source
	var err error
	switch {
	case cfg.File != "":
		src, err = trust.NewFileSource(cfg.File)
	default:
		client := trust.NewHTTPClient(trust.HTTPClientConfig{
			Certificate: *in.clientCert,
			RootCAs:     in.serverCAs,
			Timeout:     time.Duration(cfg.Timeout),
		})
		if cfg.ManifestURL != "" {
			src, err = trust.NewURLSource(cfg.ManifestURL, client)
		} else {
			src, err = trust.NewAPISource(cfg.APIURL, client)
		}
	}
	if err != nil {
		return nil, err
	}
	store, err := trust.NewStore(trust.StoreOptions{
		Source:       src,
		TrustAnchors: in.anchors,
		StateDir:     cfg.StateDir,
		Refresh:      time.Duration(cfg.Refresh),
		MaxStaleness: time.Duration(cfg.MaxStaleness),
		Timeout:      time.Duration(cfg.Timeout),
		Logger:       logger,
		Now:          now,
	})
	if err != nil {
		return nil, err
	}
	r := &sharedRuntime{store: store, rejections: make(map[trust.Reason]*atomic.Uint64)}
	for _, reason := range append(append([]trust.Reason{}, trust.LeafReasons...), otherReason) {
		r.rejections[reason] = new(atomic.Uint64)
	}
	return r, nil
}

func (r *sharedRuntime) countRejection(reason trust.Reason) {
	c, ok := r.rejections[reason]
	if !ok {
		c = r.rejections[otherReason]
	}
	c.Add(1)
}

// start registers a started config; the first one launches the loop.
// The Store logs through the logger of the most recently started config
// that is still running (a stopped config's log writers may be closed).
func (r *sharedRuntime) start(app *App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.users, app) {
		return
	}
	r.users = append(r.users, app)
	r.store.SetLogger(app.logger)
	if len(r.users) > 1 {
		return
	}
	// The loop belongs to the runtime, not to one config's context: it
	// must keep running across a reload that shares the runtime.
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.store.Run(ctx)
	}()
}

// stop unregisters a started config; the last one stops the loop.
func (r *sharedRuntime) stop(app *App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.Index(r.users, app)
	if i < 0 {
		return
	}
	r.users = slices.Delete(r.users, i, i+1)
	if len(r.users) > 0 {
		r.store.SetLogger(r.users[len(r.users)-1].logger)
		return
	}
	r.halt()
}

// halt cancels the loop and waits for it; r.mu must be held.
func (r *sharedRuntime) halt() {
	r.cancel()
	<-r.done
}

// Destruct implements caddy.Destructor: the last config using the
// runtime is gone.
func (r *sharedRuntime) Destruct() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.users) > 0 {
		r.users = nil
		r.halt()
	}
	return nil
}

// Interface guards
var (
	_ caddy.App             = (*App)(nil)
	_ caddy.Provisioner     = (*App)(nil)
	_ caddy.CleanerUpper    = (*App)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddy.Destructor      = (*sharedRuntime)(nil)
)
