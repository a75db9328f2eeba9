// Package accesslog provides the fhir_query log field filter: it makes
// Caddy's access log safe for a FHIR policy enforcement point, where query
// strings carry national ids and sometimes bearer tokens.
//
// Caddyfile, in a site block:
//
//	log {
//		format filter {
//			request>uri fhir_query
//			request>headers fhir_query
//		}
//	}
//
// JSON, in a logger's encoder:
//
//	{"format": "filter", "fields": {"request>uri": {"filter": "fhir_query"}}}
package accesslog

import (
	"net/http"
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/logging"
)

func init() {
	caddy.RegisterModule(QueryFilter{})
}

// QueryFilter is a Caddy log field filter for request URIs and headers.
//
// On a URI field (request>uri) it keeps the path and the parameter names and
// drops every query value, drops access_token entirely, and masks path
// segments and names that could carry a national id; see [ScrubURI].
//
// On a header field (request>headers, resp_headers, or a single header such
// as request>headers>Referer) it replaces Authorization, Proxy-Authorization,
// Cookie and Set-Cookie with REDACTED even when log_credentials is on, and
// scrubs the URI-valued headers Referer, Location and Content-Location like a
// request URI.
//
// Any other field is replaced by REDACTED: the filter was put there because
// the field is sensitive, so a type it does not understand is hidden rather
// than passed through.
type QueryFilter struct{}

// CaddyModule returns the Caddy module information.
func (QueryFilter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.encoders.filter.fhir_query",
		New: func() caddy.Module { return new(QueryFilter) },
	}
}

// UnmarshalCaddyfile sets up the filter from Caddyfile tokens. Syntax:
//
//	<field> fhir_query
//
// The filter takes no arguments and no block: there is nothing to tune, so
// that no configuration can make it keep a value.
func (*QueryFilter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume filter name
	if d.NextArg() {
		return d.Errf("fhir_query takes no arguments, got %q", d.Val())
	}
	if d.NextBlock(0) {
		return d.Errf("unrecognized subdirective %q", d.Val())
	}
	return nil
}

// Filter filters the input field.
func (QueryFilter) Filter(in zapcore.Field) zapcore.Field {
	switch in.Type {
	case zapcore.StringType:
		in.String = scrubValue(in.Key, in.String)
		return in
	case zapcore.ObjectMarshalerType:
		if h, ok := in.Interface.(caddyhttp.LoggableHTTPHeader); ok {
			in.Interface = caddyhttp.LoggableHTTPHeader{Header: scrubHeader(h.Header)}
			return in
		}
	case zapcore.ArrayMarshalerType:
		if a, ok := in.Interface.(caddyhttp.LoggableStringArray); ok {
			out := make(caddyhttp.LoggableStringArray, len(a))
			for i, s := range a {
				out[i] = scrubValue(in.Key, s)
			}
			in.Interface = out
			return in
		}
	}
	return zapcore.Field{Key: in.Key, Type: zapcore.StringType, String: Redacted}
}

// scrubValue scrubs one string value of the field named key: a credential
// header's value is replaced, anything else (uri, Referer, Location...) is
// read as a URI.
func scrubValue(key, v string) string {
	if isCredentialHeader(key) {
		return Redacted
	}
	return ScrubURI(v)
}

// scrubHeader returns a copy of h that is safe to log: credentials replaced,
// URI-valued headers scrubbed, other headers as they are.
func scrubHeader(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		switch {
		case isCredentialHeader(k):
			out[k] = []string{Redacted}
		case isURIHeader(k):
			scrubbed := make([]string, len(vs))
			for i, v := range vs {
				scrubbed[i] = ScrubURI(v)
			}
			out[k] = scrubbed
		default:
			out[k] = vs
		}
	}
	return out
}

func isCredentialHeader(k string) bool {
	switch strings.ToLower(k) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return false
}

func isURIHeader(k string) bool {
	switch strings.ToLower(k) {
	case "referer", "location", "content-location":
		return true
	}
	return false
}

// Interface guards
var (
	_ logging.LogFieldFilter = (*QueryFilter)(nil)
	_ caddyfile.Unmarshaler  = (*QueryFilter)(nil)
)
