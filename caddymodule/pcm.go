package caddymodule

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/introspection"
)

// pcmPool shares PCM clients (and so their introspection caches and the
// PEP's own PCM token) across config reloads: a reload with the same PCM
// settings keeps every cached answer instead of stampeding PCM.
var pcmPool = caddy.NewUsagePool()

// pcmClient is the pooled PCM connection of one set of PCM settings.
type pcmClient struct {
	introspector *introspection.Introspector
	// hooks points at the metrics of the most recently provisioned
	// config: the pooled client outlives the registry it was built with.
	hooks atomic.Pointer[introspection.Hooks]
}

// introspect asks PCM (or the cache) about token on behalf of the NTN
// member whose certificate presented it; the member's introspection
// budget pays for any PCM call.
func (c *pcmClient) introspect(ctx context.Context, member, token string) (*introspection.Claims, bool, error) {
	return c.introspector.IntrospectFor(ctx, member, token)
}

// ready reports whether the PEP can authenticate to PCM (its own PCM
// token, or nothing to obtain with introspection_auth mtls).
func (c *pcmClient) ready(ctx context.Context) error {
	return c.introspector.Ready(ctx)
}

func (c *pcmClient) forgetThumbprints(thumbprints []string) {
	c.introspector.ForgetThumbprints(thumbprints...)
}

func (c *pcmClient) setHooks(h introspection.Hooks) { c.hooks.Store(&h) }

// currentHooks forwards to whatever hooks are current at call time.
func (c *pcmClient) currentHooks() introspection.Hooks {
	load := func() introspection.Hooks {
		if h := c.hooks.Load(); h != nil {
			return *h
		}
		return introspection.Hooks{}
	}
	return introspection.Hooks{
		OnIntrospection: func(outcome string, d time.Duration) {
			if f := load().OnIntrospection; f != nil {
				f(outcome, d)
			}
		},
		OnTokenRefresh: func(outcome string) {
			if f := load().OnTokenRefresh; f != nil {
				f(outcome)
			}
		},
		OnCache: func(hit bool) {
			if f := load().OnCache; f != nil {
				f(hit)
			}
		},
		OnEvict: func() {
			if f := load().OnEvict; f != nil {
				f()
			}
		},
		OnBudget: func(scope, limit string) {
			if f := load().OnBudget; f != nil {
				f(scope, limit)
			}
		},
	}
}

// Destruct is called by the usage pool when no config uses the client.
func (c *pcmClient) Destruct() error {
	c.introspector.Close()
	return nil
}

// loadPCMClient returns the pooled client for cfg, building it on first use.
// The pool key covers every field that changes the client's behaviour and
// the certificate files' contents, so rotating a certificate on disk and
// reloading builds a new client.
func loadPCMClient(cfg *PCMConfig, skew time.Duration, logger *zap.Logger) (*pcmClient, string, error) {
	certPEM, err := os.ReadFile(cfg.ClientCert)
	if err != nil {
		return nil, "", fmt.Errorf("pcm client_cert: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.ClientKey)
	if err != nil {
		return nil, "", fmt.Errorf("pcm client_key: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.CA)
	if err != nil {
		return nil, "", fmt.Errorf("pcm ca: %w", err)
	}
	key, err := pcmPoolKey(cfg, []byte(skew.String()), certPEM, keyPEM, caPEM)
	if err != nil {
		return nil, "", err
	}
	val, loaded, err := pcmPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newPCMClient(cfg, skew, certPEM, keyPEM, caPEM)
	})
	if err != nil {
		return nil, "", fmt.Errorf("pcm: %w", err)
	}
	if loaded {
		logger.Debug("reusing PCM client and introspection cache across reload")
	}
	return val.(*pcmClient), key, nil
}

func pcmPoolKey(cfg *PCMConfig, material ...[]byte) (string, error) {
	h := sha256.New()
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	h.Write(b)
	for _, m := range material {
		h.Write([]byte{0})
		h.Write(m)
	}
	return "pcm:" + hex.EncodeToString(h.Sum(nil)), nil
}

func newPCMClient(cfg *PCMConfig, skew time.Duration, certPEM, keyPEM, caPEM []byte) (*pcmClient, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("client key cannot sign")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca holds no PEM certificate")
	}
	httpClient := &http.Client{
		Transport: &http.Transport{
			// No proxy from the environment: PCM traffic carries the
			// data source's credentials and must go where configured.
			Proxy: nil,
			DialContext: (&net.Dialer{
				Timeout:   time.Duration(cfg.Timeout),
				KeepAlive: 30 * time.Second,
			}).DialContext,
			TLSClientConfig: &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{cert},
				RootCAs:      roots,
			},
			TLSHandshakeTimeout: time.Duration(cfg.Timeout),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
		},
		// Redirects could carry the PEP's PCM token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c := &pcmClient{}
	in, err := introspection.New(introspection.Config{
		Token: introspection.TokenSourceConfig{
			TokenEndpoint: cfg.TokenEndpoint,
			ClientID:      cfg.ClientID,
			Scope:         cfg.Scope,
			Resource:      cfg.TokenResource,
			Signer:        signer,
			Algorithm:     cfg.SigningAlgorithm,
			HTTPClient:    httpClient,
		},
		Client: introspection.ClientConfig{
			Endpoint: cfg.IntrospectionEndpoint,
			Auth:     cfg.IntrospectionAuth,
			Timeout:  time.Duration(cfg.Timeout),
		},
		Budget: cfg.Budget.config(),
		Cache: introspection.CacheConfig{
			CacheTTL:    time.Duration(cfg.CacheTTL),
			NegativeTTL: time.Duration(cfg.NegativeCacheTTL),
			Skew:        skew,
			MaxCost:     cfg.CacheMaxBytes,
		},
		Hooks: c.currentHooks(),
	})
	if err != nil {
		return nil, err
	}
	c.introspector = in
	return c, nil
}

// PCMBudget bounds the introspection calls the PEP makes to PCM, per NTN
// member (the member of the presented certificate) and for all members
// together; beyond it a request is answered 503 with Retry-After, audit
// reason pcm_budget, without calling PCM. Cache hits cost nothing. Zero
// means the default; -1 switches a limit off. The defaults are far above
// what a data source's real traffic needs and exist so that random tokens
// cannot make the PEP an amplifier against PCM, a national service.
type PCMBudget struct {
	// MemberRate is PCM calls per second per member. Default: 20.
	MemberRate float64 `json:"member_rate,omitempty"`
	// MemberBurst is how many calls a member may start at once after a
	// quiet period. Default: 40 (with the default rate), else one
	// second's worth.
	MemberBurst int `json:"member_burst,omitempty"`
	// MemberInFlight caps one member's PCM calls running at once. Default: 32.
	MemberInFlight int `json:"member_in_flight,omitempty"`
	// TotalRate, TotalBurst and TotalInFlight are the same for all members
	// together. Defaults: 100, 200, 128.
	TotalRate     float64 `json:"total_rate,omitempty"`
	TotalBurst    int     `json:"total_burst,omitempty"`
	TotalInFlight int     `json:"total_in_flight,omitempty"`
}

// config is the introspection package's form; a nil budget means every
// default.
func (b *PCMBudget) config() introspection.BudgetConfig {
	if b == nil {
		return introspection.BudgetConfig{}
	}
	return introspection.BudgetConfig{
		MemberRate: b.MemberRate, MemberBurst: b.MemberBurst, MemberInFlight: b.MemberInFlight,
		TotalRate: b.TotalRate, TotalBurst: b.TotalBurst, TotalInFlight: b.TotalInFlight,
	}
}

func (b *PCMBudget) check() *configError {
	for _, r := range []struct {
		option string
		v      float64
	}{{"member_rate", b.MemberRate}, {"total_rate", b.TotalRate}} {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) || (r.v < 0 && r.v != -1) {
			return invalid("pcm", "budget", "%s must be a positive number of calls per second, or -1 (off)", r.option)
		}
	}
	for _, n := range []struct {
		option string
		v      int
	}{{"member_burst", b.MemberBurst}, {"total_burst", b.TotalBurst}} {
		if n.v < 0 {
			return invalid("pcm", "budget", "%s must be positive", n.option)
		}
	}
	for _, n := range []struct {
		option string
		v      int
	}{{"member_in_flight", b.MemberInFlight}, {"total_in_flight", b.TotalInFlight}} {
		if n.v < -1 {
			return invalid("pcm", "budget", "%s must be positive, or -1 (off)", n.option)
		}
	}
	return nil
}

// unmarshalCaddyfile reads the pcm block's budget block. Syntax:
//
//	budget {
//	    member_rate      <calls_per_second>|off
//	    member_burst     <n>
//	    member_in_flight <n>|off
//	    total_rate       <calls_per_second>|off
//	    total_burst      <n>
//	    total_in_flight  <n>|off
//	}
func (b *PCMBudget) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	_, err := caddyblock.Parse(d, "pcm budget", caddyblock.Handlers{
		"member_rate":      budgetRate(&b.MemberRate),
		"member_burst":     caddyblock.PositiveInt(&b.MemberBurst),
		"member_in_flight": budgetInFlight(&b.MemberInFlight),
		"total_rate":       budgetRate(&b.TotalRate),
		"total_burst":      caddyblock.PositiveInt(&b.TotalBurst),
		"total_in_flight":  budgetInFlight(&b.TotalInFlight),
	})
	return err
}

// budgetRate reads a positive number of calls per second, or "off" (-1).
func budgetRate(dst *float64) func(*caddyfile.Dispenser) error {
	return budgetArg(func(arg string) bool {
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) {
			return false
		}
		*dst = v
		return true
	}, func() { *dst = -1 }, "a positive number of calls per second")
}

// budgetInFlight reads a positive count, or "off" (-1).
func budgetInFlight(dst *int) func(*caddyfile.Dispenser) error {
	return budgetArg(func(arg string) bool {
		v, err := strconv.Atoi(arg)
		if err != nil || v <= 0 {
			return false
		}
		*dst = v
		return true
	}, func() { *dst = -1 }, "a positive integer")
}

// budgetArg reads exactly one argument: "off", or a value set accepts.
func budgetArg(set func(string) bool, off func(), want string) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		sub := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		arg := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch {
		case arg == "off":
			off()
		case !set(arg):
			return d.Errf("%s: %q is not %s or off", sub, arg, want)
		}
		return nil
	}
}

// pcmBudgetDenial is the answer when the introspection budget refused a PCM
// call: 503 with the budget's Retry-After, the national PCM_001 code (a
// client written against the adapter retries it like an unavailable PCM)
// and the audit reason pcm_budget. It is not counted as fail-closed: no
// dependency failed, and pcm_budget_refusals_total counts it.
func pcmBudgetDenial(retryAfter time.Duration) denial {
	return denial{
		status: http.StatusServiceUnavailable, issueType: "throttled", code: codePCMUnavailable,
		text:       "The authorization service is busy. Retry after the time given in Retry-After.",
		reason:     "pcm_budget",
		retryAfter: max(1, int(math.Ceil(retryAfter.Seconds()))),
	}
}
