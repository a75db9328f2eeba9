// Package caddymodule holds the Caddy glue of fhir-pep: the HTTP handler
// http.handlers.fhir_pep (Caddyfile directive fhir_pep), the health
// handler http.handlers.fhir_pep_health and the `fhir-pep policy` command.
// The ntn app and TLS verifier live in the sub-package ntn; the security
// logic in introspection, trust, fhir, smart, policy, patient, enforce and
// audit. This package wires them into Caddy's lifecycle and runs the
// request path.
//
// Files:
//   - module.go, check.go, caddyfile.go: the handler's configuration, its
//     pure check (run at Caddyfile parse time and first in Provision),
//     Provision and Cleanup; pcm.go the pooled PCM client; audit.go the
//     audit trail; metrics.go the collectors.
//   - handler.go: ServeHTTP, the per-request value (exchange) and the one
//     exit (finish) that audits, counts and answers every request.
//   - The stages, in the order a request meets them: authenticate.go (NTN
//     certificate, bearer token, PCM introspection, claim checks),
//     decide.go (FHIR request parsing, patient resolution, Rego decision),
//     execute.go (narrowed upstream calls and response enforcement, through
//     upstream.go and capture.go).
//   - denial.go: the denial error type, its stable error codes and every
//     denial; respond.go: rendering and writing answers.
//   - health.go: the health handler; policy_command.go: the policy CLI.
package caddymodule

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/audit"
	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/patient"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
)

func init() {
	caddy.RegisterModule(PEP{})
}

// Defaults for PEP fields; documented in the README's Caddyfile reference.
const (
	defaultRealm            = "fhir-pep"
	defaultClockSkew        = 30 * time.Second
	defaultMaxRequestBytes  = 1 << 20
	defaultPCMTimeout       = 3 * time.Second
	defaultCacheTTL         = 60 * time.Second
	defaultNegativeCacheTTL = 5 * time.Second
	defaultCacheMaxBytes    = 32 << 20
	defaultDecisionCache    = 10000
)

// PEP is the fhir-pep policy enforcement point: an HTTP middleware that lets
// a FHIR request through to the next handler (normally reverse_proxy) only
// when the caller's NTN client certificate, PCM access token and the Rego
// policies all agree, and that checks the upstream response before it leaves.
//
// It publishes these placeholders for later handlers and access logs:
//
//	{http.fhir_pep.member_id}    NTN member id of the caller's certificate
//	{http.fhir_pep.client_id}    PCM client_id of the caller's token
//	{http.fhir_pep.decision_id}  id of this decision (also in the X-Fhir-Pep-Decision-Id response header)
//	{http.fhir_pep.reason}       low-cardinality reason of a denial
//
// No placeholder ever carries the token, the patient's national id or a
// certificate.
type PEP struct {
	// Resource is this data source's resource identifier: PCM puts it in
	// the token's aud, and every token must name it. Required.
	Resource string `json:"resource,omitempty"`

	// BasePath is the path prefix under which the FHIR API is served, e.g.
	// "/R4". Requests outside it are refused with 404. Default: "" (root).
	BasePath string `json:"base_path,omitempty"`

	// Realm is the realm of the RFC 6750 WWW-Authenticate challenge.
	// Default: "fhir-pep".
	Realm string `json:"realm,omitempty"`

	// ClockSkew is the tolerance applied to token exp/iat. Default: 30s.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// MaxRequestBytes bounds the request bodies the PEP reads to decide
	// (POST _search forms, batch Bundles). Default: 1 MiB.
	MaxRequestBytes int64 `json:"max_request_bytes,omitempty"`

	// PCM configures introspection at Patient Consent Management.
	PCM *PCMConfig `json:"pcm,omitempty"`

	// Policy configures the Rego policies. Default: the policies built
	// into the binary (the repository's policies/ directory).
	Policy *PolicyConfig `json:"policy,omitempty"`

	// UpstreamBase is the FHIR base URL the upstream server writes in its
	// links (fullUrl, paging links, Location), e.g.
	// "http://hapi.internal:8080/fhir/R4". Links under it are rewritten
	// to PublicBase; other absolute links are removed. Required.
	UpstreamBase string `json:"upstream_base,omitempty"`

	// PublicBase is the FHIR base URL clients use. Default: Resource.
	PublicBase string `json:"public_base,omitempty"`

	// MaxResponseBytes bounds an upstream answer; larger answers become
	// 502 (they are buffered whole and checked before anything is sent).
	// Default: 32 MiB.
	MaxResponseBytes int64 `json:"max_response_bytes,omitempty"`

	// MaxJSONDepth bounds the nesting of upstream JSON. Default: 64.
	MaxJSONDepth int `json:"max_json_depth,omitempty"`

	// ForbiddenLabels are security labels ("system|code") that no resource
	// of an answer may carry: every upstream search excludes them with
	// _security:not, and an answer holding one anyway is refused whole
	// (400, or for a read the 404 of a missing resource).
	// http://fhir.health.gov.il/cs/il-core-main-security-label|V is always
	// one of them, whatever is configured. Default: V only.
	ForbiddenLabels []string `json:"forbidden_labels,omitempty"`

	// AnnotateWithheld adds an informational OperationOutcome entry
	// (code "suppressed") to searchsets from which resources were removed.
	AnnotateWithheld bool `json:"annotate_withheld,omitempty"`

	// Audit configures the audit trail. The audit log is always written;
	// the block adds the patient hash key, AuditEvent delivery and
	// audit_required.
	Audit *AuditConfig `json:"audit,omitempty"`

	// PatientCacheTTL is how long a national id's resolution to upstream
	// Patient ids is reused. Default: 5m ("no such patient": 30s).
	PatientCacheTTL caddy.Duration `json:"patient_cache_ttl,omitempty"`

	// PatientResolver chooses how the national id is resolved: FHIR
	// search at the upstream (the default) or the national resolve
	// service.
	PatientResolver *PatientResolverConfig `json:"patient_resolver,omitempty"`

	// UpstreamAssertion, when set, puts a short-lived signed JWT
	// describing each allowed decision on its upstream requests.
	UpstreamAssertion *UpstreamAssertionConfig `json:"upstream_assertion,omitempty"`

	// requestChecks holds the paging, limits and search_params options
	// (paging.go); its fields are inlined in the JSON config.
	requestChecks

	logger  *zap.Logger
	auditor *audit.Auditor
	// inflight lets Cleanup close the auditor after the last request.
	inflight      *inflight
	patientHasher *audit.PatientHasher
	engine        *policy.Engine
	enforcer      *enforce.Enforcer
	// accesses memoises the enforcer's Access per obligation and patient
	// (accessmemo.go); it belongs to this enforcer.
	accesses *accessMemo
	// forbiddenNotValues are the _security:not values every upstream
	// search carries, rendered once from the enforcer's labels.
	forbiddenNotValues []string
	resolver           patientResolver
	asserter           *upstreamAsserter
	scopes             *scopeCache
	trust              peerVerifier
	pcm                *pcmClient
	pcmKey             string
	metrics            *handlerMetrics
	now                func() time.Time
	issuer             string
	resource           string

	// patientNotForm is forbiddenNotValues as the form parameters of the
	// patient lookup, encoded once: patientFetcher runs on every request.
	patientNotForm string
}

// PCMConfig configures the connection to PCM. The PEP authenticates with
// mTLS and a private_key_jwt client assertion signed with the key of its NTN
// certificate; by default that is the ntn app's client_cert/client_key.
type PCMConfig struct {
	// Issuer is the exact iss PCM puts in introspection responses. Required.
	Issuer string `json:"issuer,omitempty"`
	// TokenEndpoint is PCM's OAuth token endpoint. Required.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// IntrospectionEndpoint is PCM's RFC 7662 endpoint. Required.
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	// ClientID is the PEP's client_id at PCM. Required.
	ClientID string `json:"client_id,omitempty"`
	// ClientCert and ClientKey are PEM files of the data source's NTN
	// certificate. Default: the ntn app's client_cert and client_key.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	// CA is a PEM file of the CA certificate(s) that PCM's server
	// certificate must chain to. Required: system roots are never used.
	CA string `json:"ca,omitempty"`
	// Scope requested for the PEP's own PCM token; sent only when set
	// (PCM environments differ). Default: none.
	Scope string `json:"scope,omitempty"`
	// TokenResource is the RFC 8707 resource of the PEP's own PCM token;
	// sent only when set. Default: none.
	TokenResource string `json:"token_resource,omitempty"`
	// SigningAlgorithm of the client assertion: ES256, ES384, PS256 or
	// RS256. Default: chosen from the key type (P-256: ES256, P-384: ES384,
	// RSA: RS256, as the national PCM expects).
	SigningAlgorithm string `json:"signing_algorithm,omitempty"`
	// IntrospectionAuth is how introspection calls authenticate to PCM:
	// "bearer" (the default: the PEP's own PCM token, over mTLS) or
	// "mtls" (the NTN client certificate alone; token_endpoint and
	// client_id are then not used).
	IntrospectionAuth string `json:"introspection_auth,omitempty"`
	// Budget bounds the introspection calls to PCM, per NTN member and
	// overall. Default: see PCMBudget.
	Budget *PCMBudget `json:"budget,omitempty"`
	// Timeout of one PCM call. Default: 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// CacheTTL caps how long an active introspection result is reused;
	// the token's own exp always caps it too. Default: 60s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// NegativeCacheTTL is how long an inactive result is reused. Default: 5s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`
	// CacheMaxBytes bounds the memory of the introspection cache. Default: 32 MiB.
	CacheMaxBytes int64 `json:"cache_max_bytes,omitempty"`

	// Checks of the national PCM's claims (tokenclaims.go). Each is on
	// unless set to false.
	//
	// RequireConsent refuses (401) a token without a consent reference
	// (consent_id, or a Consent in fhirContext).
	RequireConsent *bool `json:"require_consent,omitempty"`
	// CNFRequired refuses (401) a token without cnf.x5t#S256; a present
	// thumbprint must match the client certificate either way.
	CNFRequired *bool `json:"cnf_required,omitempty"`
	// OrganizationCheck refuses (403) a token whose sp_organization_id
	// (else organization_id) is not the NTN member of the client
	// certificate.
	OrganizationCheck *bool `json:"organization_check,omitempty"`
	// PatientSystems are the identifier systems the token's patient may
	// use. Default: the Israeli national id system alone; list it too when
	// adding passport systems.
	PatientSystems []string `json:"patient_systems,omitempty"`
}

// PolicyConfig selects the Rego policies.
type PolicyConfig struct {
	// Dir is a directory of .rego and data files. Default: the policies
	// built into the binary.
	Dir string `json:"dir,omitempty"`
	// DecisionCache is the number of decisions kept for identical inputs
	// (same token, request and patient ids: paging, retries). 0 (the
	// default) means 10000; -1 disables it. With the cache on, policies
	// that call non-deterministic built-ins (time, rand, http.send...)
	// are refused at load.
	DecisionCache int `json:"decision_cache,omitempty"`
	// DryRun decides and logs but lets read requests the policy denies
	// through unchanged (no narrowing, no response check), for rolling
	// out policy changes. Writes stay refused. Off by default; every
	// let-through request logs a warning.
	DryRun bool `json:"dry_run,omitempty"`
}

// peerVerifier is what the handler needs from the ntn app: a per-request
// re-check of the caller's certificate against the current manifest, so a
// member removed from NTN loses access on connections that are already open.
type peerVerifier interface {
	VerifyPeer(leaf *x509.Certificate, intermediates []*x509.Certificate) (memberID string, err error)
}

// CaddyModule returns the Caddy module information.
func (PEP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.fhir_pep",
		New: func() caddy.Module { return new(PEP) },
	}
}

// Provision sets defaults, connects to the ntn app and builds (or reuses
// across reloads) the PCM client and its cache. It does no network I/O.
func (p *PEP) Provision(ctx caddy.Context) error {
	// A JSON config never went through the Caddyfile parser's check:
	// report its mistakes before anything is read, compiled or started.
	if e := p.checkConfig(); e != nil {
		return e
	}
	appVal, err := ctx.AppIfConfigured("ntn")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return fmt.Errorf("fhir_pep: the ntn global option is required (NTN member trust): %w", err)
	}
	if err != nil {
		return err // the ntn app is configured but failed: its error names the option
	}
	return p.provision(ctx.Logger(), ctx.GetMetricsRegistry(), appVal)
}

// provision is Provision without the caddy.Context, so tests can supply
// the registry and a stand-in for the ntn app.
func (p *PEP) provision(logger *zap.Logger, reg prometheus.Registerer, ntnApp any) error {
	p.inflight = newInflight()
	p.logger = logger
	if p.now == nil {
		p.now = time.Now
	}
	if p.Realm == "" {
		p.Realm = defaultRealm
	}
	if p.ClockSkew == 0 {
		p.ClockSkew = caddy.Duration(defaultClockSkew)
	}
	if p.MaxRequestBytes == 0 {
		p.MaxRequestBytes = defaultMaxRequestBytes
	}
	if p.MaxResponseBytes == 0 {
		p.MaxResponseBytes = enforce.DefaultMaxBytes
	}
	if p.MaxJSONDepth == 0 {
		p.MaxJSONDepth = enforce.DefaultMaxDepth
	}
	if p.PublicBase == "" {
		p.PublicBase = p.Resource
	}
	if p.Policy == nil {
		p.Policy = new(PolicyConfig)
	}
	p.BasePath = strings.TrimSuffix(p.BasePath, "/")
	p.PCM.setDefaults()

	m, err := newHandlerMetrics(reg)
	if err != nil {
		return fmt.Errorf("fhir_pep: metrics: %w", err)
	}
	p.metrics = m

	verifier, ok := ntnApp.(peerVerifier)
	if !ok {
		return fmt.Errorf("fhir_pep: ntn app of type %T cannot verify peers", ntnApp)
	}
	p.trust = verifier
	if err := p.PCM.inheritClientCertificate(ntnApp); err != nil {
		return err
	}

	client, key, err := loadPCMClient(p.PCM, time.Duration(p.ClockSkew), p.logger)
	if err != nil {
		return fmt.Errorf("fhir_pep: %w", err)
	}
	p.pcm, p.pcmKey = client, key
	p.pcm.setHooks(p.metrics.introspectionHooks())
	cache := client.introspector.Cache()
	if err := registerCacheSize(reg, cache.SizeBytes); err != nil {
		return fmt.Errorf("fhir_pep: metrics: %w", err)
	}
	if r, ok := ntnApp.(revocationNotifier); ok {
		r.OnRevoke(p.pcm.forgetThumbprints)
	}
	p.issuer, p.resource = p.PCM.Issuer, p.Resource

	if err := p.provisionPolicy(); err != nil {
		return err
	}
	p.resolver, err = newPatientResolver(p.PatientResolver, patient.Config{TTL: time.Duration(p.PatientCacheTTL), Now: p.now})
	if err != nil {
		return fmt.Errorf("fhir_pep: %w", err)
	}
	if p.UpstreamAssertion != nil {
		if p.asserter, err = p.UpstreamAssertion.newUpstreamAsserter(p.UpstreamBase, p.Resource, p.now); err != nil {
			return fmt.Errorf("fhir_pep: %w", err)
		}
	}
	p.scopes = new(scopeCache)
	if err := p.provisionRequestChecks(); err != nil {
		return err
	}
	if err := p.provisionAudit(); err != nil {
		return err
	}
	registerLive(p)
	return nil
}

// provisionPolicy loads and prepares the Rego policies (once per config
// load: a reload picks up edited policies) and builds the response
// enforcer with the policy's bucket system aliases.
func (p *PEP) provisionPolicy() error {
	ctx := context.Background()
	var opts []policy.Option
	switch n := p.Policy.DecisionCache; {
	case n == 0:
		opts = append(opts, policy.WithDecisionCache(defaultDecisionCache))
	case n > 0:
		opts = append(opts, policy.WithDecisionCache(n))
	}
	var err error
	if p.Policy.Dir != "" {
		if fi, serr := os.Stat(p.Policy.Dir); serr != nil || !fi.IsDir() {
			// Name the path: the loader would only say "open .".
			return fmt.Errorf("fhir_pep: policy: %q is not a readable directory", p.Policy.Dir)
		}
		p.engine, err = policy.LoadDir(ctx, p.Policy.Dir, opts...)
	} else {
		p.engine, err = policy.Load(ctx, policies.FS(), opts...)
	}
	if err != nil {
		return fmt.Errorf("fhir_pep: policy: %w", err)
	}
	p.metrics.policyInfo.Reset()
	p.metrics.policyInfo.WithLabelValues(p.engine.Version()).Set(1)
	if p.Policy.DryRun {
		p.logger.Warn("POLICY DRY RUN IS ON: requests the policy denies are let through unchanged; do not leave this on",
			zap.String("policy_version", p.engine.Version()))
	}
	compartment := make(map[string][][]string, len(fhir.PatientCompartment))
	for typ, e := range fhir.PatientCompartment {
		compartment[typ] = e.Paths
	}
	labels := make([]enforce.Label, 0, len(p.ForbiddenLabels))
	for _, s := range p.ForbiddenLabels {
		l, err := enforce.ParseLabel(s)
		if err != nil {
			return fmt.Errorf("fhir_pep: forbidden_labels: %q is not system|code", s)
		}
		labels = append(labels, l)
	}
	p.enforcer, err = enforce.New(enforce.Config{
		ForbiddenLabels: labels,
		Compartment:     compartment,
		SystemAliases:   [][]string{p.engine.BucketSystems()},
		MaxBytes:        int(p.MaxResponseBytes),
		MaxDepth:        p.MaxJSONDepth,
		UpstreamBase:    p.UpstreamBase,
		PublicBase:      p.PublicBase,
	})
	if err != nil {
		return fmt.Errorf("fhir_pep: response enforcement: %w", err)
	}
	p.forbiddenNotValues = forbiddenNotValues(p.enforcer.ForbiddenLabels())
	p.patientNotForm = url.Values{"_security:not": p.forbiddenNotValues}.Encode()
	p.accesses = newAccessMemo()
	return nil
}

// revocationNotifier is implemented by the ntn app: it reports the
// thumbprints of certificates that left the manifest so that cached
// introspection results bound to them are dropped at once.
type revocationNotifier interface {
	OnRevoke(func(thumbprints []string))
}

func (c *PCMConfig) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = caddy.Duration(defaultPCMTimeout)
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = caddy.Duration(defaultCacheTTL)
	}
	if c.NegativeCacheTTL == 0 {
		c.NegativeCacheTTL = caddy.Duration(defaultNegativeCacheTTL)
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = defaultCacheMaxBytes
	}
}

// clientCertificateSource is implemented by the ntn app, whose client
// certificate is the data source's NTN identity; PCM wants the same one.
type clientCertificateSource interface {
	ClientCertificateFiles() (certFile, keyFile string)
}

func (c *PCMConfig) inheritClientCertificate(app any) error {
	if c.ClientCert != "" {
		return nil // with client_key: checkConfig made sure of it
	}
	src, ok := app.(clientCertificateSource)
	if ok {
		c.ClientCert, c.ClientKey = src.ClientCertificateFiles()
	}
	if c.ClientCert == "" || c.ClientKey == "" {
		return errors.New("fhir_pep: pcm needs client_cert and client_key (or the ntn app's)")
	}
	return nil
}

// Cleanup releases this config's hold on the shared PCM client; the client
// and its cache survive a reload when the next config uses the same PCM
// settings.
func (p *PEP) Cleanup() error {
	unregisterLive(p)
	if p.inflight.close() {
		p.closeAuditorLogged()
		p.inflight.closedAuditor()
	} else {
		// A reload: this configuration's requests still in flight record
		// their decisions through this auditor, so it closes after them.
		go func() {
			t := time.NewTimer(inflightCloseBound)
			defer t.Stop()
			select {
			case <-p.inflight.idle:
			case <-t.C:
				p.logger.Warn("closing the audit of a replaced configuration with requests still in flight",
					zap.Int64("requests", p.inflight.n.Load()))
			}
			p.closeAuditorLogged()
			p.inflight.closedAuditor()
		}()
	}
	if p.pcmKey != "" {
		if _, err := pcmPool.Delete(p.pcmKey); err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*PEP)(nil)
	_ caddy.CleanerUpper          = (*PEP)(nil)
	_ caddyhttp.MiddlewareHandler = (*PEP)(nil)
	_ caddyfile.Unmarshaler       = (*PEP)(nil)
)
