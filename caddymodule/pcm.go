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
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

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

func (c *pcmClient) introspect(ctx context.Context, token string) (*introspection.Claims, bool, error) {
	return c.introspector.Introspect(ctx, token)
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
			Timeout:  time.Duration(cfg.Timeout),
		},
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
