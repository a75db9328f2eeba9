package caddymodule

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/internal/correlation"
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
		return p.fetch(ctx, r, next, relPath, rawQuery, form)
	}
}

// fetch is one upstream call of fetcher's: r is the client's request.
func (p *PEP) fetch(ctx context.Context, r *http.Request, next caddyhttp.Handler, relPath, rawQuery, form string) (*capture, error) {
	// A shallow copy with its own URL and Header: r.Clone would
	// deep-copy the client's header only for it to be replaced, and
	// reverse_proxy clones what it changes itself.
	up := r.WithContext(ctx)
	u := *r.URL
	up.URL = &u
	up.Form, up.PostForm, up.MultipartForm = nil, nil, nil
	up.Method = http.MethodGet
	up.URL.Path = p.BasePath + relPath
	up.URL.RawPath = ""
	up.URL.RawQuery = rawQuery
	up.RequestURI = up.URL.RequestURI()
	up.Body, up.ContentLength, up.GetBody = http.NoBody, 0, nil
	up.Trailer = nil
	// Sized for one map group (a hint above 8 allocates a table of
	// groups): the usual upstream request carries 4 to 6 headers.
	up.Header = make(http.Header, 8)
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
	// The enforcer reads JSON only, uncompressed. (Canonical keys set
	// directly: this runs on every request.) One backing array for the
	// four values, each sliced to its full capacity so an append by a
	// later handler copies instead of overwriting its neighbour.
	vals := &[4]string{"application/fhir+json", "identity", firstValue(r.Header, decisionHeader)}
	up.Header["Accept"] = vals[0:1:1]
	up.Header["Accept-Encoding"] = vals[1:2:2]
	up.Header[decisionHeader] = vals[2:3:3]
	// The checked (or minted) correlation id, never the client's raw
	// header: correlate wrote it back into r.
	if id := firstValue(r.Header, correlation.CanonicalHeader); id != "" {
		vals[3] = id
		up.Header[correlation.CanonicalHeader] = vals[3:4:4]
	}
	setUpstreamAssertion(ctx, up.Header)
	c := newCapture(p.MaxResponseBytes)
	start := p.now()
	err := serveUpstream(next, c, up)
	p.observeStage(p.metrics.stageUp, start)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// firstValue is Header.Get for a key already in canonical form: Get
// canonicalises its argument, an allocation per call for a key such as
// correlation.Header ("X-Correlation-ID").
func firstValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// errUpstreamAborted is what serveUpstream makes of reverse_proxy's abort.
var errUpstreamAborted = errors.New("upstream broke off its answer")

// serveUpstream calls next, turning a panic with http.ErrAbortHandler into
// errUpstreamAborted. reverse_proxy panics with it when the upstream breaks
// off an answer after its headers (a reset connection, a truncated body).
// Unrecovered, the panic would unwind past finish: net/http would drop the
// client's connection with no OperationOutcome, and no audit record would
// be written. Any other panic is a bug and keeps unwinding.
func serveUpstream(next caddyhttp.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // recover returns the very value
				panic(v)
			}
			err = errUpstreamAborted
		}
	}()
	return next.ServeHTTP(w, r)
}

// maxUpstreamTarget bounds the request target (path and query) of an
// upstream GET. Servers refuse longer request lines, some by dropping the
// connection: Jetty (HAPI) and Tomcat allow 8 KiB for the request line and
// headers together, Node 16 KiB, and the upstream assertion and the other
// headers take their share. A search whose narrowed query does not fit goes
// as POST _search with the query in a form body (FHIR R4 3.1.0.1.1), which
// every server accepts; anything else that does not fit is refused 414.
const maxUpstreamTarget = 6 << 10

// denyUpstreamTargetTooLong: the narrowed request cannot be put to the
// upstream in any form it accepts.
var denyUpstreamTargetTooLong = denial{
	status: http.StatusRequestURITooLong, issueType: "too-costly", code: pepCode("request_too_long", "Request too long for the FHIR server"),
	text: "The request is too long for the FHIR server.", reason: "upstream_target_too_long",
}

// isSearchPath tells the paths of a type or compartment search ("/Type",
// "/Patient/<id>/Type"), which have a POST _search form.
func isSearchPath(path string) bool {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) != 1 && len(segs) != 3 {
		return false
	}
	for _, s := range segs {
		if s == "" || s[0] == '_' || s[0] == '$' {
			return false
		}
	}
	return true
}

// upstream performs one upstream GET (a POST _search when a search's query
// is too long for a URL). Anything but a 2xx JSON answer is a denial: a
// safe answer that says nothing of what the upstream sent.
func (p *PEP) upstream(ctx context.Context, fetch fetchFunc, path, query string) (*capture, error) {
	var (
		c   *capture
		err error
	)
	switch {
	case len(p.BasePath)+len(path)+1+len(query) <= maxUpstreamTarget:
		c, err = fetch(ctx, path, query, "")
	case isSearchPath(path):
		c, err = fetch(ctx, path+"/_search", "", query)
	default:
		return nil, denyUpstreamTargetTooLong
	}
	if err != nil {
		return nil, p.badUpstream("upstream_unreachable", err)
	}
	switch status := c.statusCode(); {
	case c.overflow:
		return nil, p.badUpstream("upstream_response_too_large", nil)
	case c.header.Get("Content-Encoding") != "" && c.header.Get("Content-Encoding") != "identity":
		return nil, p.badUpstream("upstream_encoded_body", nil)
	case status == http.StatusNotFound || status == http.StatusGone:
		return nil, notFound("upstream_not_found")
	case status >= 500:
		return nil, p.badUpstream("upstream_error", nil)
	case status >= 400:
		// Keep the status, but only the severity and code of the issues:
		// diagnostics could echo another patient's data.
		return nil, upstreamRejected(status, enforce.SanitizeOperationOutcome(c.body.Bytes()))
	case status < 200 || status >= 300:
		return nil, p.badUpstream("upstream_unexpected_status", nil)
	case !isJSON(c.header.Get("Content-Type")):
		return nil, p.badUpstream("upstream_not_json", nil)
	}
	return c, nil
}

// badUpstream refuses an upstream answer. It is counted as fail-closed
// here, where the cause is known, also when it ends only one entry of a
// batch.
func (p *PEP) badUpstream(reason string, err error) denial {
	if err != nil {
		p.logger.Warn("upstream answer refused", zap.String("reason", reason), zap.Error(err))
	}
	p.metrics.failClosed.WithLabelValues(reason).Inc()
	return denyBadUpstream(reason)
}

// isJSON accepts the media types a FHIR JSON body may carry.
func isJSON(contentType string) bool {
	switch contentType {
	case "application/fhir+json", "application/fhir+json; charset=utf-8", "application/fhir+json;charset=utf-8",
		"application/json", "application/json; charset=utf-8":
		// What FHIR servers send, decided without ParseMediaType's
		// parameter map (an allocation per request); every other value
		// takes the full parse below. TestIsJSONFastPath holds the two
		// ways to the same answer.
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/fhir+json" || mt == "application/json" || mt == "application/json+fhir"
}
