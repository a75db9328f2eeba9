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
	// correlation.Generator.FromRequest, reading the header by its
	// canonical key: Values canonicalises its argument on every call.
	// Exactly one valid value is kept (two are one too many to pick from).
	var id string
	if vs := r.Header[correlationKey]; len(vs) == 1 && correlation.Valid(vs[0]) {
		id = vs[0]
	} else {
		var err error
		if id, err = correlationIDs.New(); err != nil {
			id = fallback
		}
	}
	// Two slices of one array, each to its full capacity: an append to
	// one cannot reach the other.
	vals := &[2]string{id, id}
	w.Header()[correlationKey] = vals[0:1:1]
	r.Header[correlationKey] = vals[1:2:2]
	return id
}
