package fhir

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/hdp-il/fhir-pep/internal/strictjson"
)

// EntryRequest is the request part of one batch/transaction entry. Path and
// RawQuery are split from entry.request.url so that each entry can be checked
// with ParseRequest(e.Method, e.Path, e.RawQuery, header, e.Body) exactly like
// a top-level request.
type EntryRequest struct {
	Method string
	// URL is entry.request.url as sent (relative to the FHIR base).
	URL string
	// Path is "/" + the path part of URL.
	Path string
	// RawQuery is the part of URL after "?", still percent-encoded.
	RawQuery string
	// Body is entry.resource (raw JSON), nil when absent.
	Body []byte
}

// maxBundleEntries bounds the work one batch can cause.
const maxBundleEntries = 1000

// bundleType returns Bundle.type after checking the body is a JSON Bundle.
func bundleType(body []byte) (string, error) {
	top, err := strictObject(body)
	if err != nil {
		return "", err
	}
	var rt, typ string
	if json.Unmarshal(top["resourceType"], &rt) != nil || rt != "Bundle" {
		return "", ErrInvalidBody
	}
	if json.Unmarshal(top["type"], &typ) != nil {
		return "", ErrInvalidBody
	}
	return typ, nil
}

// ParseBundleEntries extracts the request of every entry of a batch or
// transaction Bundle, in entry order. Each entry must have request.method
// (GET, POST, PUT, PATCH, DELETE) and a relative request.url that is not
// empty (a nested batch) and not absolute. Keys are matched case-sensitively
// and duplicate keys anywhere in the body are rejected: a parser differential
// with the upstream server ({"type":"batch","type":"transaction"}) must not
// let one entry be checked and another executed.
func ParseBundleEntries(body []byte) ([]EntryRequest, error) {
	typ, err := bundleType(body)
	if err != nil {
		return nil, err
	}
	if typ != "batch" && typ != "transaction" {
		return nil, ErrInvalidBody
	}
	top, err := strictObject(body)
	if err != nil {
		return nil, err
	}
	rawEntries, ok := top["entry"]
	if !ok {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(rawEntries, &entries); err != nil {
		return nil, ErrInvalidBody
	}
	if len(entries) > maxBundleEntries {
		return nil, ErrInvalidBody
	}
	out := make([]EntryRequest, 0, len(entries))
	for _, raw := range entries {
		e, err := parseEntry(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func parseEntry(raw json.RawMessage) (EntryRequest, error) {
	entry, err := strictObject(raw)
	if err != nil {
		return EntryRequest{}, err
	}
	req, err := strictObject(entry["request"])
	if err != nil {
		return EntryRequest{}, err
	}
	var e EntryRequest
	if json.Unmarshal(req["method"], &e.Method) != nil || json.Unmarshal(req["url"], &e.URL) != nil {
		return EntryRequest{}, ErrInvalidBody
	}
	switch e.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return EntryRequest{}, ErrInvalidBody
	}
	path, query, _ := strings.Cut(e.URL, "?")
	// An entry URL is relative to the base: "Patient/1", "Observation?x=y".
	// Empty (the base: a nested batch) and absolute or rooted URLs are refused.
	if path == "" || strings.HasPrefix(path, "/") || strings.Contains(path, ":") || strings.Contains(e.URL, "#") {
		return EntryRequest{}, ErrInvalidBody
	}
	e.Path, e.RawQuery = "/"+path, query
	if res, ok := entry["resource"]; ok {
		e.Body = []byte(res)
	}
	return e, nil
}

// strictObject decodes one JSON object into its members after checking that
// data is exactly one JSON value, that it is an object and that no object
// anywhere inside it repeats a key.
func strictObject(data []byte) (map[string]json.RawMessage, error) {
	if len(data) == 0 || !noDuplicateKeys(data) {
		return nil, ErrInvalidBody
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, ErrInvalidBody
	}
	return m, nil
}

// noDuplicateKeys reports false on a repeated key in any object, on
// invalid JSON or UTF-8, or on trailing data after the first value. The
// nesting is not bounded here: the body size bounds it.
func noDuplicateKeys(data []byte) bool {
	return strictjson.Check(data, math.MaxInt) == nil
}
