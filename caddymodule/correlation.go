package caddymodule

import (
	"net/http"

	"github.com/hdp-il/fhir-pep/internal/correlation"
)

// correlationIDs mints ids for requests without a usable X-Correlation-ID.
var correlationIDs correlation.Generator

// correlate settles the request's correlation id: the client's
// X-Correlation-ID when it is at most 64 characters of [A-Za-z0-9._-],
// otherwise a fresh one (fallback, the decision id, only if the system's
// randomness fails). The id is echoed in the answer and written back into
// the request's header, replacing whatever the client sent, so that every
// upstream call (and reverse_proxy under dry_run) passes on the same
// checked value.
func correlate(w http.ResponseWriter, r *http.Request, fallback string) string {
	id, _, err := correlationIDs.FromRequest(r)
	if err != nil {
		id = fallback
	}
	// Two slices of one array, each to its full capacity: an append to
	// one cannot reach the other.
	vals := &[2]string{id, id}
	w.Header()[correlation.CanonicalHeader] = vals[0:1:1]
	r.Header[correlation.CanonicalHeader] = vals[1:2:2]
	return id
}
