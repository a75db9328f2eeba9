package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policy"
)

// execute carries out an allowed plan: the narrowed upstream call(s) and
// the response check.
func (p *PEP) execute(ctx context.Context, fetch fetchFunc, pl *plan) (result, error) {
	req, ob := pl.req, pl.decision.Obligations
	switch req.Interaction {
	case fhir.InteractionCapabilities:
		c, err := p.upstream(ctx, fetch, "/metadata", "")
		if err != nil {
			return result{}, err
		}
		return p.capabilities(c)
	case fhir.InteractionSearchType, fhir.InteractionSearchCompartment:
		if ob.EmptyResult {
			return emptySearchset(), nil
		}
		q, err := narrowedQuery(req, ob.SearchParams, p.forbiddenNot())
		if err != nil {
			return result{}, denyPolicyError
		}
		return p.bundle(ctx, fetch, pl.access, searchPath(req), q, req.ResourceType)
	case fhir.InteractionRead, fhir.InteractionVRead, fhir.InteractionHistoryInstance:
		return p.read(ctx, fetch, pl)
	case fhir.InteractionOperation:
		return p.bundle(ctx, fetch, pl.access, req.CanonicalPath(), req.CanonicalQuery(), "")
	case fhir.InteractionBatch, fhir.InteractionTransaction:
		return p.batch(ctx, fetch, pl)
	}
	// The policy allowed something this PEP cannot carry out safely (a
	// write, for instance): refuse rather than forward blindly.
	return result{}, denyNotSupported
}

// read handles read, vread and history-instance. With read_as_search the
// upstream must first find the resource with the patient's compartment
// parameter and the scope constraints; only then is the read itself done
// (vread, history) or the search's single match returned (read).
func (p *PEP) read(ctx context.Context, fetch fetchFunc, pl *plan) (result, error) {
	req, ob := pl.req, pl.decision.Obligations
	if ob.EmptyResult {
		return result{}, notFound("patient_not_found")
	}
	if ob.ReadAsSearch && !plainRead(pl) {
		probe := &fhir.Request{}
		if err := probe.AddParam("_id", req.ID); err != nil {
			return result{}, notFound("invalid_id")
		}
		q, err := narrowedQuery(probe, ob.SearchParams, p.forbiddenNot())
		if err != nil {
			return result{}, denyPolicyError
		}
		found, err := p.bundle(ctx, fetch, pl.access, "/"+req.ResourceType, q, req.ResourceType)
		if isForbiddenLabel(err) {
			// A read of such a resource is a 404 like any missing one.
			return result{}, forbiddenLabelNotFound()
		}
		if err != nil {
			return result{}, err
		}
		resource, ok := singleMatch(found.payload(), req.ResourceType, req.ID)
		if !ok {
			return withheldResult("not_found_or_withheld", found.out.withheld), nil
		}
		if req.Interaction == fhir.InteractionRead {
			return result{status: http.StatusOK, body: resource, out: outcome{returned: 1}}, nil
		}
	}
	if req.Interaction == fhir.InteractionHistoryInstance {
		return p.bundle(ctx, fetch, pl.access, req.CanonicalPath(), req.CanonicalQuery(), "")
	}
	c, err := p.upstream(ctx, fetch, req.CanonicalPath(), "")
	if err != nil {
		return result{}, err
	}
	start := p.now()
	v, err := pl.access.CheckResource(c.body.Bytes())
	p.observeStage(p.metrics.stageCheck, start)
	if isForbiddenLabel(err) {
		p.forbiddenLabelFound()
		return result{}, forbiddenLabelNotFound()
	}
	if err != nil {
		return result{}, p.badUpstream("invalid_upstream_body", err)
	}
	if !v.Allowed {
		p.metrics.withheld.WithLabelValues(v.Reason.String()).Inc()
		return withheldResult("withheld_"+v.Reason.String(), 1), nil
	}
	p.metrics.returned.Inc()
	return result{status: http.StatusOK, body: c.body.Bytes(), header: versionHeaders(c.header), out: outcome{returned: 1}}, nil
}

// versionHeaders are the upstream's ETag and Last-Modified (first values),
// the only headers of its answer a read passes on; nil when it sent
// neither, so the common answer costs no map.
func versionHeaders(up http.Header) http.Header {
	etag, modified := up.Get("Etag"), up.Get("Last-Modified")
	if etag == "" && modified == "" {
		return nil
	}
	h := make(http.Header, 2)
	if etag != "" {
		h["Etag"] = []string{etag}
	}
	if modified != "" {
		h["Last-Modified"] = []string{modified}
	}
	return h
}

// bundle fetches a Bundle and filters it entry by entry. narrowedType is
// the type of a search whose query carried the policy's narrowing ("" for
// history and operations): its match entries may pass rules whose
// constraints the upstream applied but the check cannot read.
func (p *PEP) bundle(ctx context.Context, fetch fetchFunc, access *enforce.Access, path, query, narrowedType string) (result, error) {
	c, err := p.upstream(ctx, fetch, path, query)
	if err != nil {
		return result{}, err
	}
	start := p.now()
	stats, err := access.FilterBundleEdited(c.body.Bytes(), enforce.FilterOptions{
		AnnotateWithheld: p.AnnotateWithheld, NarrowedType: narrowedType, Links: c.links,
	}, &c.edited)
	p.observeStage(p.metrics.stageCheck, start)
	if isForbiddenLabel(err) {
		p.forbiddenLabelFound()
		return result{}, denyForbiddenLabel
	}
	if errors.Is(err, enforce.ErrLinks) {
		// A paging link too long to seal: refusing the answer beats
		// cutting the result short without the client knowing.
		return result{}, p.badUpstream("upstream_links_unusable", err)
	}
	if err != nil {
		return result{}, p.badUpstream("invalid_upstream_body", err)
	}
	for reason, n := range stats.Withheld {
		if n > 0 {
			p.metrics.withheld.WithLabelValues(enforce.Reason(reason).String()).Add(float64(n))
		}
	}
	returned := stats.Returned + stats.Included
	p.metrics.returned.Add(float64(returned))
	return result{status: http.StatusOK, bundle: c, out: outcome{returned: returned, withheld: stats.WithheldCount()}}, nil
}

// capabilities passes the server's CapabilityStatement, which holds no
// patient data, after making sure that is what it is. Its URLs
// (implementation.url and the like) name the upstream: they are moved to
// the public base, or dropped when they point anywhere else.
func (p *PEP) capabilities(c *capture) (result, error) {
	dec := json.NewDecoder(bytes.NewReader(c.body.Bytes()))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc["resourceType"] != "CapabilityStatement" {
		return result{}, p.badUpstream("upstream_not_capabilities", err)
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
		return result{}, p.badUpstream("upstream_not_capabilities", err)
	}
	if u := strings.TrimPrefix(strings.TrimPrefix(upstream, "http://"), "https://"); u != "" && bytes.Contains(body, []byte(hostOf(u))) {
		// The upstream's host still appears (another path on it): drop
		// implementation, the only place a server normally names itself.
		delete(doc, "implementation")
		if body, err = json.Marshal(doc); err != nil {
			return result{}, p.badUpstream("upstream_not_capabilities", err)
		}
	}
	return result{status: http.StatusOK, body: body}, nil
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

// narrowedQuery is the client's own parameters AND the policy's AND one
// _security:not per forbidden label, added always: a client's own
// _security:not is kept beside them and never replaces them.
func narrowedQuery(req *fhir.Request, add []policy.SearchParam, forbiddenNot []string) (string, error) {
	for _, sp := range add {
		if err := req.AddParam(sp.Name, sp.Value); err != nil {
			return "", err
		}
	}
	for _, v := range forbiddenNot {
		if err := req.AddParam("_security:not", v); err != nil {
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
	}
}

// batch runs every entry as its own narrowed, checked request and answers a
// batch-response (or transaction-response) in entry order. Every upstream
// call is a read, so running the entries one by one is faithful to both.
func (p *PEP) batch(ctx context.Context, fetch fetchFunc, pl *plan) (result, error) {
	obs := pl.decision.Obligations.Entries
	if len(obs) != len(pl.entries) {
		return result{}, denyPolicyError
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
	var total outcome
	for i, er := range pl.entries {
		access, err := p.accessFor(obs[i].Response, pl.ids)
		if err != nil {
			return result{}, denyPolicyError
		}
		sub := &plan{req: er, decision: policy.Decision{Allow: true, Status: 200, Obligations: obs[i]}, access: access, ids: pl.ids}
		res, err := p.execute(ctx, p.entryLinksFetch(fetch, er), sub)
		if err != nil && isForbiddenLabel(err) && asDenial(err).status != http.StatusNotFound {
			// A forbidden label in any entry's answer refuses the whole
			// batch (a read's is a 404 in place, like a missing resource).
			return result{}, err
		}
		if err != nil {
			// A denied entry is answered in place; the batch goes on.
			res = p.answer(asDenial(err))
		}
		var e entry
		e.Resource = res.payload()
		e.Response.Status = strconv.Itoa(res.status) + " " + http.StatusText(res.status)
		out.Entry = append(out.Entry, e)
		total.returned += res.out.returned
		total.withheld += res.out.withheld
	}
	// No HTML escaping, as in the entries' own links: "&" stays "&" in
	// their URLs instead of becoming \u0026.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return result{}, err
	}
	return result{status: http.StatusOK, body: bytes.TrimSuffix(buf.Bytes(), []byte("\n")), out: total}, nil
}
