package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
)

// result is an answer fully decided by the PEP: an allowed, checked
// upstream answer, or a denial rendered by answer.
type result struct {
	status int
	body   []byte
	// bundle, when set, holds the answer instead of body: a checked
	// Bundle kept as its upstream body and the check's edits
	// (capture.edited), which respond writes out without rebuilding it.
	bundle *capture
	// header holds what only this answer carries (ETag, WWW-Authenticate,
	// Retry-After); respond adds the headers of every answer.
	header http.Header
	out    outcome
}

// outcome is what the request produced, for metrics, logs and audit.
type outcome struct {
	reason     string
	returned   int
	withheld   int
	failClosed bool
}

// answer renders a denial. realm is quoted into the RFC 6750 challenge; it
// comes from configuration, never from the request.
func (p *PEP) answer(d denial) result {
	res := result{status: d.status, out: outcome{reason: d.reason, failClosed: d.failClosed}}
	switch {
	case d.status == http.StatusNotFound:
		// Every 404 of the PEP is byte-identical to a real not-found, so a
		// withheld resource cannot be told from a missing one.
		res.body = enforce.NotFoundBody()
	case d.outcome != nil:
		res.body = d.outcome
	default:
		res.body = operationOutcome(d)
	}
	if d.status == http.StatusUnauthorized || d.bearerError != "" {
		res.header = http.Header{}
		res.header.Set("WWW-Authenticate", bearerChallenge(p.Realm, d.bearerError))
	}
	if d.retryAfter > 0 {
		if res.header == nil {
			res.header = http.Header{}
		}
		res.header.Set("Retry-After", strconv.Itoa(d.retryAfter))
	}
	return res
}

// withheldResult is the 404 of a read whose resource response enforcement
// withheld: the same answer as a real not-found, with the count for the
// audit record.
func withheldResult(reason string, withheld int) result {
	return result{status: http.StatusNotFound, body: enforce.NotFoundBody(), out: outcome{reason: reason, withheld: withheld}}
}

// respond writes an answer. It is the only place that sets the headers of
// every answer: FHIR JSON, and patient data is never cacheable by
// intermediaries.
func respond(w http.ResponseWriter, res result) {
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	// One backing array for the values (Header.Set allocates a slice per
	// value), each sliced to its full capacity so that an append by
	// another handler copies instead of overwriting its neighbour. Keys
	// are canonical literals, as Set would make them.
	vals := &[4]string{"application/fhir+json; charset=utf-8", "no-store", "nosniff", strconv.Itoa(res.len())}
	if res.header.Get("Content-Type") == "" {
		// Every answer is FHIR JSON but the SMART discovery document.
		h["Content-Type"] = vals[0:1:1]
	}
	h["Cache-Control"] = vals[1:2:2]
	h["X-Content-Type-Options"] = vals[2:3:3]
	h["Content-Length"] = vals[3:4:4]
	w.WriteHeader(res.status)
	if res.bundle != nil {
		res.bundle.writeEdited(w)
		return
	}
	_, _ = w.Write(res.body)
}

// len is the length of the answer's body.
func (res result) len() int {
	if res.bundle != nil {
		return res.bundle.edited.Len()
	}
	return len(res.body)
}

// payload returns the answer's body, rebuilding a checked Bundle held as
// edits (in its capture's output buffer) for the callers that need it
// whole: a read answered by a search's single match, a batch entry.
func (res result) payload() []byte {
	if res.bundle != nil {
		return res.bundle.editedBytes()
	}
	return res.body
}

// bearerChallenge renders an RFC 6750 section 3 challenge. Per the RFC, a
// request without any authentication information gets no error attribute.
func bearerChallenge(realm, bearerError string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteEscape(realm))
	b.WriteByte('"')
	if bearerError != "" {
		b.WriteString(`, error="`)
		b.WriteString(bearerError)
		b.WriteByte('"')
	}
	return b.String()
}

func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// operationOutcome renders a denial as a one-issue OperationOutcome with
// its stable code in details.coding.
func operationOutcome(d denial) []byte {
	type coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	type details struct {
		Coding []coding `json:"coding"`
	}
	type issue struct {
		Severity    string   `json:"severity"`
		Code        string   `json:"code"`
		Details     *details `json:"details,omitempty"`
		Diagnostics string   `json:"diagnostics,omitempty"`
	}
	is := issue{Severity: "error", Code: d.issueType, Diagnostics: d.text}
	if d.code.code != "" {
		is.Details = &details{Coding: []coding{{d.code.system, d.code.code, d.code.display}}}
	}
	body, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", []issue{is}})
	if err != nil {
		// Marshalling strings cannot fail; keep the answer valid anyway.
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	}
	return body
}
