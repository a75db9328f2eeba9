package caddymodule

import (
	"net/http"
	"strings"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/limits"
)

// HTTP-level refusals, decided before (or right after) the FHIR request is
// parsed: they need neither a token nor the policy, and answering them with
// their proper status spares the client a misleading 400 or 502.

var (
	denyTooManyHeaderFields = denial{
		status: http.StatusRequestHeaderFieldsTooLarge, issueType: "too-costly",
		code: pepCode("too_many_header_fields", "Too many header fields"),
		text: "The request has too many header fields.", reason: "too_many_header_fields",
	}
	denyNotAcceptable = denial{
		status: http.StatusNotAcceptable, issueType: "not-supported",
		code: pepCode("format_not_supported", "Only FHIR JSON is served"),
		text: "Only FHIR JSON (application/fhir+json) is served.", reason: "format_not_acceptable",
	}
)

// checkHTTP refuses more header fields than the limit (431; limits
// max_header_fields, default 100) and a GET or HEAD with a body (400): FHIR defines no
// body for them, and a server or proxy on the way may read one as the next
// request.
func checkHTTP(r *http.Request, lim limits.Config) error {
	if err := lim.CheckHeader(r.Header); err != nil {
		return denyTooManyHeaderFields
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && hasBody(r) {
		return denyBadRequest("body_not_allowed")
	}
	return nil
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || len(r.TransferEncoding) > 0 ||
		(r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// asGet is a HEAD request seen as the GET it stands for, for parsing and
// the policy: HEAD answers exactly like GET, and net/http drops the body.
func asGet(r *http.Request) *http.Request {
	if r.Method != http.MethodHead {
		return r
	}
	g := *r
	g.Method = http.MethodGet
	return &g
}

// checkFormat refuses (406) a request that can only be answered in a format
// other than FHIR JSON: a _format that is not JSON, or an Accept header that
// lists no JSON type (nor a wildcard). Without it, an upstream would be
// asked for XML or HTML and its answer refused as a 502.
func checkFormat(h http.Header, req *fhir.Request) error {
	for _, p := range req.Params {
		if p.Name != "_format" {
			continue
		}
		for _, v := range p.Values {
			if !jsonMediaType(mediaRange(v)) {
				return denyNotAcceptable
			}
		}
	}
	accepts := h.Values("Accept")
	if len(accepts) == 0 {
		return nil
	}
	for _, a := range accepts {
		for _, part := range strings.Split(a, ",") {
			if jsonMediaType(mediaRange(part)) {
				return nil
			}
		}
	}
	return denyNotAcceptable
}

// mediaRange is a media type or _format value, lower case, without
// parameters.
func mediaRange(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// jsonMediaType: the JSON media types a FHIR server serves, the _format
// shorthand and wildcards.
func jsonMediaType(mt string) bool {
	switch mt {
	case "", "*/*", "application/*", "json", "application/json", "application/fhir+json", "application/json+fhir":
		return true
	}
	return false
}
