package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/fhir/searchparam"
	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/limits"
	"github.com/hdp-il/fhir-pep/paging"
)

// requestChecks are the options and state of the checks issue #12 added
// around the request path: sealed paging links, request limits and the
// search parameter registry. PEP embeds it, so its options sit at the top
// level of the fhir_pep JSON config.
type requestChecks struct {
	// Paging configures the sealed paging links (README "Paging links").
	// Default: a random per-instance key, links valid 10 minutes.
	Paging *PagingConfig `json:"paging,omitempty"`
	// Limits caps parameters, comma-separated values and header fields
	// before the policy runs (README "Search parameters and limits").
	Limits *limits.Config `json:"limits,omitempty"`
	// SearchParams allows a server's own search parameters beyond R4.
	SearchParams []SearchParamConfig `json:"search_params,omitempty"`

	sealer       *paging.Sealer
	searchParams *searchparam.Registry
}

// PagingConfig configures the sealed paging links (package paging): the
// key that seals and opens them and how long they stay valid.
type PagingConfig struct {
	// KeyFile holds at least 32 random bytes, base64 or hex encoded
	// (openssl rand -base64 32). Every instance behind one load balancer
	// needs the same file. Default: a random key made at start, so links
	// open only on the instance that made them and only until it reloads.
	KeyFile string `json:"key_file,omitempty"`
	// PreviousKeyFile is the key before a rotation: links it sealed still
	// open until they expire.
	PreviousKeyFile string `json:"previous_key_file,omitempty"`
	// TTL is how long a page link stays valid. Default: 10m.
	TTL caddy.Duration `json:"ttl,omitempty"`
}

// SearchParamConfig allows one search parameter a server defines beyond
// R4 (its own SearchParameter resources).
type SearchParamConfig struct {
	// ResourceType is the type it applies to, or "*" for every type.
	ResourceType string `json:"resource_type"`
	// Name is the parameter's code.
	Name string `json:"name"`
	// Type is its R4 search type: number, date, string, token, reference,
	// composite, quantity, uri or special.
	Type string `json:"type"`
	// Targets are a reference's target types; none means any type.
	Targets []string `json:"targets,omitempty"`
}

// provisionRequestChecks builds the page link sealer, the search
// parameter registry and the request limits.
func (p *PEP) provisionRequestChecks() error {
	if p.Limits == nil {
		p.Limits = new(limits.Config)
	}
	if err := p.Limits.Validate(); err != nil {
		return fmt.Errorf("fhir_pep: limits: %w", err)
	}
	*p.Limits = p.Limits.WithDefaults()
	extras := make([]searchparam.Extra, 0, len(p.SearchParams))
	for _, sp := range p.SearchParams {
		extras = append(extras, searchparam.Extra{
			ResourceType: sp.ResourceType, Name: sp.Name, Type: searchparam.Type(sp.Type), Targets: sp.Targets,
		})
	}
	reg, err := searchparam.New(searchparam.Config{Extra: extras})
	if err != nil {
		return fmt.Errorf("fhir_pep: search_params: %w", err)
	}
	p.searchParams = reg
	return p.provisionPaging()
}

func (p *PEP) provisionPaging() error {
	cfg := p.Paging
	if cfg == nil {
		cfg = new(PagingConfig)
	}
	var current paging.Key
	var err error
	if cfg.KeyFile == "" {
		// A per-process key: paging works on a single instance without
		// configuration; several instances need a shared key_file.
		buf := make([]byte, 32)
		_, _ = rand.Read(buf)
		current, err = paging.ParseKey([]byte(base64.StdEncoding.EncodeToString(buf)))
		p.logger.Info("paging: no key_file, page links open only on this instance until it reloads")
	} else {
		current, err = paging.LoadKeyFile(cfg.KeyFile)
	}
	if err != nil {
		return fmt.Errorf("fhir_pep: paging: %w", err)
	}
	var previous *paging.Key
	if cfg.PreviousKeyFile != "" {
		k, err := paging.LoadKeyFile(cfg.PreviousKeyFile)
		if err != nil {
			return fmt.Errorf("fhir_pep: paging: %w", err)
		}
		previous = &k
	}
	p.sealer, err = paging.New(paging.Options{
		UpstreamBase: p.UpstreamBase,
		PublicBase:   p.PublicBase,
		Current:      current,
		Previous:     previous,
		TTL:          time.Duration(cfg.TTL),
		Now:          func() time.Time { return p.now() },
	})
	if err != nil {
		return fmt.Errorf("fhir_pep: paging: %w", err)
	}
	return nil
}

func (rc *requestChecks) unmarshalPaging(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	rc.Paging = new(PagingConfig)
	c := rc.Paging
	return caddyblock.Parse(d, "paging", caddyblock.Handlers{
		"key_file":          caddyblock.String(&c.KeyFile),
		"previous_key_file": caddyblock.String(&c.PreviousKeyFile),
		"ttl":               caddyblock.Duration(&c.TTL),
	})
}

func (rc *requestChecks) unmarshalLimits(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	rc.Limits = new(limits.Config)
	c := rc.Limits
	return caddyblock.Parse(d, "limits", caddyblock.Handlers{
		"max_params":           caddyblock.PositiveInt(&c.MaxParams),
		"max_values_per_param": caddyblock.PositiveInt(&c.MaxValuesPerParam),
		"max_values":           caddyblock.PositiveInt(&c.MaxValues),
		"max_header_fields":    caddyblock.PositiveInt(&c.MaxHeaderFields),
	})
}

// unmarshalSearchParams reads a search_params block, one parameter a line:
// <ResourceType|*> <name> <type> [<target>...].
func (rc *requestChecks) unmarshalSearchParams(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	dst := &rc.SearchParams
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sp := SearchParamConfig{ResourceType: d.Val()}
		args := d.RemainingArgs()
		if len(args) < 2 {
			return d.Errf("search_params: want <ResourceType|*> <name> <type> [<target>...], got %q", strings.Join(append([]string{sp.ResourceType}, args...), " "))
		}
		sp.Name, sp.Type, sp.Targets = args[0], args[1], args[2:]
		if _, err := searchparam.New(searchparam.Config{Extra: []searchparam.Extra{{
			ResourceType: sp.ResourceType, Name: sp.Name, Type: searchparam.Type(sp.Type), Targets: sp.Targets,
		}}}); err != nil {
			return d.Errf("search_params: %v", err)
		}
		*dst = append(*dst, sp)
	}
	return nil
}

// limitsConfig is the request limits in force (the defaults before
// Provision has filled them in).
func (p *PEP) limitsConfig() limits.Config {
	if p.Limits == nil {
		return limits.Config{}
	}
	return *p.Limits
}

// checkParams runs, before the policy, on the parameters the client sent:
// the limits, then the search parameter registry for searches (each entry
// of a batch alike).
func (p *PEP) checkParams(req *fhir.Request, entries []*fhir.Request) error {
	for _, r := range append([]*fhir.Request{req}, entries...) {
		if err := p.Limits.CheckParams(r.Params); err != nil {
			return requestDenial(err)
		}
		switch r.Interaction {
		case fhir.InteractionSearchType, fhir.InteractionSearchCompartment:
			if err := p.searchParams.Validate(r.ResourceType, r.Params); err != nil {
				return requestDenial(err)
			}
		case fhir.InteractionSearchSystem:
			if err := p.searchParams.Validate("", r.Params); err != nil {
				return requestDenial(err)
			}
		}
	}
	return nil
}

// requestDenial maps the typed errors of limits, searchparam and paging
// to answers. The search parameter's name (the client's own text, never
// a value) is shown, so the client can tell which one to fix.
func requestDenial(err error) denial {
	var le *limits.Error
	var se *searchparam.Error
	var pe *paging.Error
	switch {
	case errors.As(err, &le):
		d := denial{status: le.HTTPStatus(), issueType: "too-costly", code: codeInvalidRequest,
			reason: le.Reason, text: fmt.Sprintf("The request has too many %s (limit %d).", limitNoun(le), le.Limit)}
		return d
	case errors.As(err, &se):
		return denial{status: http.StatusBadRequest, issueType: "not-supported", code: codeInvalidRequest,
			reason: se.Reason, text: fmt.Sprintf("Search parameter %q: %s.", se.Param, searchParamText(se))}
	case errors.As(err, &pe):
		d := denial{status: pe.HTTPStatus(), reason: pe.Reason, code: codeInvalidRequest}
		switch pe.HTTPStatus() {
		case http.StatusGone:
			d.issueType, d.text = "expired", "The page link has expired; search again."
		case http.StatusForbidden:
			d.issueType, d.text, d.code = "forbidden", "The page link belongs to another request.", codeAuthNotCovered
		default:
			d.issueType, d.text = "invalid", "The page link is not valid."
		}
		return d
	}
	return denyInternal
}

func limitNoun(e *limits.Error) string {
	switch {
	case errors.Is(e, limits.ErrTooManyParams):
		return "parameters"
	case errors.Is(e, limits.ErrTooManyHeaderFields):
		return "header fields"
	}
	return "comma-separated values"
}

func searchParamText(e *searchparam.Error) string {
	switch {
	case errors.Is(e, searchparam.ErrUnknownParam):
		return "not a supported search parameter of this resource type"
	case errors.Is(e, searchparam.ErrRejectedParam):
		return "not supported by this server"
	case errors.Is(e, searchparam.ErrModifier):
		return "modifier not supported for this parameter"
	case errors.Is(e, searchparam.ErrChain):
		return "chain not supported"
	}
	return "invalid value"
}

// pageLinks is what the response path needs to seal a Bundle's paging
// links: who they are bound to, the client's request they belong to, and
// the self link to show.
type pageLinks struct {
	binding paging.Binding
	self    string
	origin  string
}

// pagedPath is the upstream path of the call a page link can continue: a
// search's type or compartment path, an operation's or a history's path.
// ok is false for the interactions that do not page.
func pagedPath(req *fhir.Request) (path string, ok bool) {
	switch req.Interaction {
	case fhir.InteractionSearchType, fhir.InteractionSearchCompartment:
		return searchPath(req), true
	case fhir.InteractionOperation, fhir.InteractionHistoryInstance:
		return req.CanonicalPath(), true
	}
	return "", false
}

// sealPageLinks prepares an allowed plan's upstream calls so that every
// Bundle they answer carries the client's own self link and sealed paging
// links (paging.Sealer.RewriteLinkArray, applied by the response check
// to the link member its walk finds, see sealingFetch). It must run before execute narrows the request (narrowing
// appends the PEP's parameters to req.Params). A batch's entries get
// entryLinksFetch instead, in batch.
func (p *PEP) sealPageLinks(x *exchange, pl *plan, fetch fetchFunc) (fetchFunc, error) {
	path, ok := pagedPath(pl.req)
	if !ok {
		return fetch, nil
	}
	b, err := p.binding(x, pl)
	if err != nil {
		return nil, err
	}
	params := pl.req.Params
	return p.sealingFetch(fetch, &pageLinks{
		binding: b,
		self:    p.sealer.SelfLink(path, params),
		origin:  p.sealer.Origin(path, params),
	}), nil
}

// binding is what a page link is bound to: the token, the client
// certificate, the patient's ids and the decision's obligations (their
// JSON: struct fields in order, map keys sorted, so every instance
// encodes one decision alike).
func (p *PEP) binding(x *exchange, pl *plan) (paging.Binding, error) {
	ob, err := json.Marshal(pl.decision.Obligations)
	if err != nil {
		return paging.Binding{}, err
	}
	return paging.Binding{
		TokenSHA256: x.subject.tokenSHA256,
		Thumbprint:  x.subject.Thumbprint,
		PatientIDs:  pl.ids,
		Obligations: paging.ObligationsDigest(ob),
	}, nil
}

// sealingFetch has the response check rewrite the links of every 2xx
// Bundle fetch answers (enforce.FilterOptions.Links, in bundle): the
// client's self link and sealed paging links. A Bundle whose top-level
// keys are escaped or whose resourceType is spelled with escapes keeps
// its own links, moved to the public base where they open nothing.
func (p *PEP) sealingFetch(fetch fetchFunc, pc *pageLinks) fetchFunc {
	return linkRewritingFetch(fetch, func(raw []byte) ([]byte, error) {
		return p.sealer.RewriteLinkArray(raw, pc.self, pc.origin, pc.binding)
	})
}

// entryLinksFetch is sealingFetch for a search (operation, history)
// inside a batch or transaction: its Bundle keeps only a self link
// rebuilt from the entry's own request, and no paging link. A page link
// is bound to a decision that following it makes again for the origin
// request alone; an entry was decided as part of its batch, with the
// batch's obligations for it, so no page link could be bound to that
// decision and be honoured exactly when it should (README "Paging links").
// The entry's parameters must be taken before execute narrows the entry.
func (p *PEP) entryLinksFetch(fetch fetchFunc, entry *fhir.Request) fetchFunc {
	path, ok := pagedPath(entry)
	if !ok {
		return fetch
	}
	self := p.sealer.SelfLink(path, entry.Params)
	return linkRewritingFetch(fetch, func(raw []byte) ([]byte, error) {
		return paging.SelfOnlyLinkArray(raw, self)
	})
}

// linkRewritingFetch attaches rewrite to every answer of fetch: bundle
// hands it to the response check, which finds Bundle.link in its one walk
// over the body instead of a second scan here.
func linkRewritingFetch(fetch fetchFunc, rewrite func(raw []byte) ([]byte, error)) fetchFunc {
	return func(ctx context.Context, relPath, rawQuery, form string) (*capture, error) {
		c, err := fetch(ctx, relPath, rawQuery, form)
		if c != nil {
			c.links = rewrite
		}
		return c, err
	}
}

// isPageRequest reports a request for the page route, <base_path>/_page.
func (p *PEP) isPageRequest(r *http.Request) bool {
	return strings.TrimPrefix(r.URL.EscapedPath(), p.BasePath) == paging.PagePath
}

// servePage follows a sealed page link. The trust and token checks have
// run as for every request; then the link is authenticated, the client's
// original request inside it is checked and decided again (fresh token
// claims, fresh patient resolution), the binding is checked against this
// request and that decision, and the plan is carried out with the paged
// call going to the sealed upstream link instead of the narrowed query.
// Its answer is checked like any search answer, and its own paging links
// are sealed in turn.
func (p *PEP) servePage(x *exchange, fetch fetchFunc) (result, error) {
	start := p.now()
	pl, page, sealed, err := p.decidePage(x, fetch)
	p.observeStage(p.metrics.stagePolicy, start)
	if err != nil {
		return result{}, err
	}
	ctx, err := p.bindAssertion(x, pl)
	if err != nil {
		return result{}, err
	}
	pagePath, _ := pagedPath(pl.req)
	escPath, pageQuery, _ := strings.Cut(page.Rest, "?")
	upPath, err := url.PathUnescape(escPath)
	if err != nil {
		return result{}, p.badUpstream("upstream_links_unusable", err)
	}
	toPage := func(ctx context.Context, relPath, rawQuery, form string) (*capture, error) {
		if relPath == pagePath || relPath == pagePath+"/_search" {
			return fetch(ctx, upPath, withForbiddenNot(pageQuery, p.forbiddenNot()), "")
		}
		return fetch(ctx, relPath, rawQuery, form)
	}
	b, err := p.binding(x, pl)
	if err != nil {
		return result{}, err
	}
	sealing := p.sealingFetch(toPage, &pageLinks{binding: b, self: p.sealer.PageURL(sealed), origin: page.Origin})
	return p.execute(ctx, sealing, pl)
}

// decidePage authenticates the page link and decides its origin request;
// the binding is checked only after the decision, whose obligations it
// includes.
func (p *PEP) decidePage(x *exchange, fetch fetchFunc) (*plan, *paging.Page, string, error) {
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
		return nil, nil, "", denyBadRequest("page_method")
	}
	sealed, err := paging.SealedValue(x.r.URL.RawQuery)
	if err != nil {
		return nil, nil, "", requestDenial(err)
	}
	page, err := p.sealer.Unseal(sealed)
	if err != nil {
		return nil, nil, "", requestDenial(err)
	}
	path, query, _ := strings.Cut(page.Origin, "?")
	req, err := fhir.ParseRequest(http.MethodGet, path, query, nil, nil)
	if _, ok := pagedPathOf(req, err); !ok {
		// The origin was sealed by a PEP with this key: only a change of
		// the FHIR parser between releases can bring us here.
		return nil, nil, "", requestDenial(paging.ErrInvalid)
	}
	x.req = req
	if err := checkFormat(x.r.Header, req); err != nil {
		return nil, nil, "", err
	}
	if err := p.checkParams(req, nil); err != nil {
		return nil, nil, "", err
	}
	pl, err := p.decide(x.r, fetch, x.subject, req, nil)
	if err != nil {
		return nil, nil, "", err
	}
	if pl.dryRun {
		// Dry run lets a denied request through unchanged; a page link
		// means nothing upstream, so it stays refused.
		return nil, nil, "", policyDenial(pl.decision.Status, policyReason(pl.decision))
	}
	b, err := p.binding(x, pl)
	if err != nil {
		return nil, nil, "", err
	}
	if err := p.sealer.Verify(page, b); err != nil {
		return nil, nil, "", requestDenial(err)
	}
	return pl, page, sealed, nil
}

func pagedPathOf(req *fhir.Request, err error) (string, bool) {
	if err != nil {
		return "", false
	}
	return pagedPath(req)
}

// bindToken records the SHA-256 of the accepted bearer token for page
// link bindings. It runs after the token gate, before the credentials are
// stripped; the token gate already read the same token.
func (p *PEP) bindToken(x *exchange) error {
	token, err := bearerToken(x.r, p.MaxRequestBytes)
	if err != nil {
		return denyMalformedAuthorization
	}
	x.subject.tokenSHA256 = paging.TokenDigest(token)
	return nil
}

// withForbiddenNot adds to an upstream page query each _security:not of a
// forbidden label that it does not already carry. Every search the PEP
// sends upstream carries them, pages too: an upstream that pages by
// offset echoes the original query, but one that pages through an opaque
// token (HAPI's _getpages, continuation tokens) may not, and the label
// must still be asked for. The response check refuses a labelled answer
// either way.
func withForbiddenNot(query string, nots []string) string {
	have, err := url.ParseQuery(query)
	if err != nil {
		have = nil // an unparsable query gets every label added
	}
	for _, v := range nots {
		if slices.Contains(have["_security:not"], v) {
			continue
		}
		add := url.Values{"_security:not": {v}}.Encode()
		if query == "" {
			query = add
		} else {
			query += "&" + add
		}
	}
	return query
}
