package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policy"
)

// fetchFunc performs GET <base_path><relPath>?<rawQuery> on the upstream
// through the rest of the handler chain (normally reverse_proxy) and returns
// the buffered answer. With a form, it is a POST of that
// application/x-www-form-urlencoded body instead (a FHIR POST _search).
type fetchFunc func(ctx context.Context, relPath, rawQuery, form string) (*capture, error)

// forwardedHeaders are the only client headers the upstream sees. Building
// the upstream request from an allow list means nothing a client sends can
// pose as something the PEP says, nor change what the upstream returns
// (conditional headers, Accept-Encoding, Prefer: return=... and the like).
var forwardedHeaders = []string{"User-Agent", "Traceparent", "Tracestate", "X-Request-Id", "Accept-Language"}

func (p *PEP) fetcher(r *http.Request, next caddyhttp.Handler) fetchFunc {
	return func(ctx context.Context, relPath, rawQuery, form string) (*capture, error) {
		up := r.Clone(ctx)
		up.Method = http.MethodGet
		up.URL.Path = p.BasePath + relPath
		up.URL.RawPath = ""
		up.URL.RawQuery = rawQuery
		up.RequestURI = up.URL.RequestURI()
		up.Body, up.ContentLength, up.GetBody = http.NoBody, 0, nil
		up.Trailer = nil
		up.Header = make(http.Header, len(forwardedHeaders)+3)
		if form != "" {
			up.Method = http.MethodPost
			up.Body, up.ContentLength = io.NopCloser(strings.NewReader(form)), int64(len(form))
			up.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(form)), nil }
			up.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, h := range forwardedHeaders {
			if v := r.Header.Values(h); len(v) > 0 {
				up.Header[h] = v
			}
		}
		// The enforcer reads JSON only, uncompressed.
		up.Header.Set("Accept", "application/fhir+json")
		up.Header.Set("Accept-Encoding", "identity")
		up.Header.Set(decisionHeader, r.Header.Get(decisionHeader))
		c := newCapture(p.MaxResponseBytes)
		start := p.now()
		err := next.ServeHTTP(c, up)
		p.metrics.stageDuration.WithLabelValues("upstream").Observe(p.now().Sub(start).Seconds())
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// result is a response fully decided by the PEP.
type result struct {
	status int
	body   []byte
	header http.Header
	out    outcome
}

func fromDenial(d denial) result {
	body := operationOutcome("error", d.issueCode, d.text)
	if d.status == http.StatusNotFound {
		body = enforce.NotFoundBody()
	}
	return result{status: d.status, body: body, out: outcome{status: d.status, reason: d.reason}}
}

func notFound(reason string) result {
	return result{status: http.StatusNotFound, body: enforce.NotFoundBody(), out: outcome{status: http.StatusNotFound, reason: reason}}
}

// execute carries out an allowed plan: the narrowed upstream call(s) and
// the response check.
func (p *PEP) execute(ctx context.Context, fetch fetchFunc, pl *plan) result {
	req, ob := pl.req, pl.decision.Obligations
	switch req.Interaction {
	case fhir.InteractionCapabilities:
		c, res, ok := p.upstream(ctx, fetch, "/metadata", "")
		if !ok {
			return res
		}
		return p.capabilities(c)
	case fhir.InteractionSearchType, fhir.InteractionSearchCompartment:
		if ob.EmptyResult {
			return emptySearchset()
		}
		q, err := narrowedQuery(req, ob.SearchParams)
		if err != nil {
			return fromDenial(denyPolicyError)
		}
		return p.bundle(ctx, fetch, pl.access, searchPath(req), q)
	case fhir.InteractionRead, fhir.InteractionVRead, fhir.InteractionHistoryInstance:
		return p.read(ctx, fetch, pl)
	case fhir.InteractionOperation:
		return p.bundle(ctx, fetch, pl.access, req.CanonicalPath(), req.CanonicalQuery())
	case fhir.InteractionBatch, fhir.InteractionTransaction:
		return p.batch(ctx, fetch, pl)
	}
	// The policy allowed something this PEP cannot carry out safely (a
	// write, for instance): refuse rather than forward blindly.
	return fromDenial(denyNotSupported)
}

// read handles read, vread and history-instance. With read_as_search the
// upstream must first find the resource with the patient's compartment
// parameter and the scope constraints; only then is the read itself done
// (vread, history) or the search's single match returned (read).
func (p *PEP) read(ctx context.Context, fetch fetchFunc, pl *plan) result {
	req, ob := pl.req, pl.decision.Obligations
	if ob.EmptyResult {
		return notFound("patient_not_found")
	}
	if ob.ReadAsSearch {
		probe := &fhir.Request{}
		if err := probe.AddParam("_id", req.ID); err != nil {
			return notFound("invalid_id")
		}
		q, err := narrowedQuery(probe, ob.SearchParams)
		if err != nil {
			return fromDenial(denyPolicyError)
		}
		found := p.bundle(ctx, fetch, pl.access, "/"+req.ResourceType, q)
		if found.status != http.StatusOK {
			return found
		}
		resource, ok := singleMatch(found.body, req.ResourceType, req.ID)
		if !ok {
			r := notFound("not_found_or_withheld")
			r.out.withheld = found.out.withheld
			return r
		}
		if req.Interaction == fhir.InteractionRead {
			return result{status: http.StatusOK, body: resource, out: outcome{status: http.StatusOK, returned: 1}}
		}
	}
	if req.Interaction == fhir.InteractionHistoryInstance {
		return p.bundle(ctx, fetch, pl.access, req.CanonicalPath(), req.CanonicalQuery())
	}
	c, res, ok := p.upstream(ctx, fetch, req.CanonicalPath(), "")
	if !ok {
		return res
	}
	start := p.now()
	v, err := pl.access.CheckResource(c.body.Bytes())
	p.metrics.stageDuration.WithLabelValues("response").Observe(p.now().Sub(start).Seconds())
	if err != nil {
		return p.badUpstream("invalid_upstream_body", err)
	}
	if !v.Allowed {
		p.metrics.withheld.WithLabelValues(v.Reason.String()).Inc()
		r := notFound("withheld_" + v.Reason.String())
		r.out.withheld = 1
		return r
	}
	p.metrics.returned.Inc()
	h := http.Header{}
	for _, k := range []string{"ETag", "Last-Modified"} {
		if v := c.header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return result{status: http.StatusOK, body: c.body.Bytes(), header: h, out: outcome{status: http.StatusOK, returned: 1}}
}

// bundle fetches a Bundle and filters it entry by entry.
func (p *PEP) bundle(ctx context.Context, fetch fetchFunc, access *enforce.Access, path, query string) result {
	c, res, ok := p.upstream(ctx, fetch, path, query)
	if !ok {
		return res
	}
	start := p.now()
	out, stats, err := access.FilterBundle(c.body.Bytes(), enforce.FilterOptions{AnnotateWithheld: p.AnnotateWithheld})
	p.metrics.stageDuration.WithLabelValues("response").Observe(p.now().Sub(start).Seconds())
	if err != nil {
		return p.badUpstream("invalid_upstream_body", err)
	}
	for reason, n := range stats.Withheld {
		if n > 0 {
			p.metrics.withheld.WithLabelValues(enforce.Reason(reason).String()).Add(float64(n))
		}
	}
	returned := stats.Returned + stats.Included
	p.metrics.returned.Add(float64(returned))
	return result{status: http.StatusOK, body: out, out: outcome{
		status: http.StatusOK, returned: returned, withheld: stats.WithheldCount(), stats: stats,
	}}
}

// upstream performs one upstream GET and maps everything but a 2xx JSON
// answer to a safe result.
func (p *PEP) upstream(ctx context.Context, fetch fetchFunc, path, query string) (*capture, result, bool) {
	c, err := fetch(ctx, path, query, "")
	if err != nil {
		return nil, p.badUpstream("upstream_unreachable", err), false
	}
	switch status := c.statusCode(); {
	case c.overflow:
		return nil, p.badUpstream("upstream_response_too_large", nil), false
	case c.header.Get("Content-Encoding") != "" && c.header.Get("Content-Encoding") != "identity":
		return nil, p.badUpstream("upstream_encoded_body", nil), false
	case status == http.StatusNotFound || status == http.StatusGone:
		return nil, notFound("upstream_not_found"), false
	case status >= 500:
		return nil, p.badUpstream("upstream_error", nil), false
	case status >= 400:
		// Keep the status, but only the severity and code of the issues:
		// diagnostics could echo another patient's data.
		return nil, result{status: status, body: enforce.SanitizeOperationOutcome(c.body.Bytes()),
			out: outcome{status: status, reason: "upstream_rejected"}}, false
	case status < 200 || status >= 300:
		return nil, p.badUpstream("upstream_unexpected_status", nil), false
	case !isJSON(c.header.Get("Content-Type")):
		return nil, p.badUpstream("upstream_not_json", nil), false
	}
	return c, result{}, true
}

func (p *PEP) badUpstream(reason string, err error) result {
	if err != nil {
		p.logger.Warn("upstream answer refused", zap.String("reason", reason), zap.Error(err))
	}
	p.metrics.failClosed.WithLabelValues(reason).Inc()
	return fromDenial(denial{
		status: http.StatusBadGateway, issueCode: "exception",
		text: "The FHIR server's answer could not be used.", reason: reason,
	})
}

// capabilities passes the server's CapabilityStatement, which holds no
// patient data, after making sure that is what it is. Its URLs
// (implementation.url and the like) name the upstream: they are moved to
// the public base, or dropped when they point anywhere else.
func (p *PEP) capabilities(c *capture) result {
	dec := json.NewDecoder(bytes.NewReader(c.body.Bytes()))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc["resourceType"] != "CapabilityStatement" {
		return p.badUpstream("upstream_not_capabilities", err)
	}
	upstream := strings.TrimSuffix(p.UpstreamBase, "/")
	public := strings.TrimSuffix(p.PublicBase, "/")
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		case string:
			if rest, ok := strings.CutPrefix(t, upstream); ok && (rest == "" || rest[0] == '/' || rest[0] == '?') {
				return public + rest
			}
		}
		return v
	}
	walk(doc)
	body, err := json.Marshal(doc)
	if err != nil {
		return p.badUpstream("upstream_not_capabilities", err)
	}
	if u := strings.TrimPrefix(strings.TrimPrefix(upstream, "http://"), "https://"); u != "" && bytes.Contains(body, []byte(hostOf(u))) {
		// The upstream's host still appears (another path on it): drop
		// implementation, the only place a server normally names itself.
		delete(doc, "implementation")
		if body, err = json.Marshal(doc); err != nil {
			return p.badUpstream("upstream_not_capabilities", err)
		}
	}
	return result{status: http.StatusOK, body: body, out: outcome{status: http.StatusOK}}
}

func hostOf(hostPath string) string {
	host, _, _ := strings.Cut(hostPath, "/")
	return host
}

// searchPath is the GET form of a search, also for POST _search.
func searchPath(req *fhir.Request) string {
	if req.Compartment != nil {
		return "/" + req.Compartment.Type + "/" + req.Compartment.ID + "/" + req.ResourceType
	}
	return "/" + req.ResourceType
}

// narrowedQuery is the client's own parameters AND the policy's.
func narrowedQuery(req *fhir.Request, add []policy.SearchParam) (string, error) {
	for _, sp := range add {
		if err := req.AddParam(sp.Name, sp.Value); err != nil {
			return "", err
		}
	}
	return req.CanonicalQuery(), nil
}

// singleMatch returns the one resource of the filtered searchset that is
// the asked type and id, or false when there is none or more than one.
func singleMatch(bundle []byte, typ, id string) ([]byte, bool) {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, false
	}
	var found []byte
	for _, e := range b.Entry {
		if e.Search.Mode != "" && e.Search.Mode != "match" {
			continue
		}
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if json.Unmarshal(e.Resource, &head) != nil || head.ResourceType != typ || head.ID != id {
			continue
		}
		if found != nil {
			return nil, false
		}
		found = e.Resource
	}
	return found, found != nil
}

func emptySearchset() result {
	return result{
		status: http.StatusOK,
		body:   []byte(`{"resourceType":"Bundle","type":"searchset","total":0}`),
		out:    outcome{status: http.StatusOK},
	}
}

// batch runs every entry as its own narrowed, checked request and answers a
// batch-response (or transaction-response) in entry order. Every upstream
// call is a read, so running the entries one by one is faithful to both.
func (p *PEP) batch(ctx context.Context, fetch fetchFunc, pl *plan) result {
	obs := pl.decision.Obligations.Entries
	if len(obs) != len(pl.entries) {
		return fromDenial(denyPolicyError)
	}
	kind := "batch-response"
	if pl.req.Interaction == fhir.InteractionTransaction {
		kind = "transaction-response"
	}
	type entry struct {
		Resource json.RawMessage `json:"resource,omitempty"`
		Response struct {
			Status string `json:"status"`
		} `json:"response"`
	}
	out := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: kind, Entry: make([]entry, 0, len(obs))}
	total := outcome{status: http.StatusOK}
	for i, er := range pl.entries {
		access, err := p.accessFor(obs[i].Response, pl.ids)
		if err != nil {
			return fromDenial(denyPolicyError)
		}
		sub := &plan{req: er, decision: policy.Decision{Allow: true, Status: 200, Obligations: obs[i]}, access: access, ids: pl.ids}
		res := p.execute(ctx, fetch, sub)
		var e entry
		e.Resource = res.body
		e.Response.Status = strconv.Itoa(res.status) + " " + http.StatusText(res.status)
		out.Entry = append(out.Entry, e)
		total.returned += res.out.returned
		total.withheld += res.out.withheld
	}
	body, err := json.Marshal(out)
	if err != nil {
		return fromDenial(denyInternal)
	}
	return result{status: http.StatusOK, body: body, out: total}
}
