// Package patient resolves the patient of a PCM token (a national id,
// "system|value") to the logical ids of the matching Patient resources on the
// upstream FHIR server, with a bounded TTL cache.
//
// Two resolvers share that cache (cache.go):
//
//   - Resolver (the default) asks the upstream with a standard search
//     (Patient?identifier=system|value), but does not trust its answer
//     blindly: every returned Patient must itself carry the identifier, so
//     an upstream that ignores the parameter cannot widen the patient
//     context to everybody.
//   - NationalResolver asks the national patient-resolution service
//     (POST <url>/api/v1/resolve), for data sources whose FHIR server cannot
//     search by national id.
package patient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
)

// ErrLookupFailed means the upstream could not answer the lookup: the
// request must fail closed (never treated as "no data").
var ErrLookupFailed = errors.New("patient: upstream lookup failed")

// Fetcher performs a Patient search on the upstream with the given
// form-encoded parameters and returns the status and body. The Caddy handler implements it through the configured
// reverse_proxy, so lookups use the same upstream, TLS and headers as
// proxied requests.
type Fetcher func(ctx context.Context, rawQuery string) (status int, body []byte, err error)

// Resolver resolves through a FHIR search on the upstream and caches the
// results.
type Resolver struct {
	cache
}

// NewResolver returns a Resolver.
func NewResolver(cfg Config) *Resolver {
	r := &Resolver{}
	r.init(cfg)
	return r
}

// Resolve returns the upstream Patient ids carrying identifier system|value,
// asking the upstream through fetch on a cache miss. The fetcher is passed
// per call because the Caddy handler reaches the upstream through the
// request's own handler chain. An empty result means the patient has no data
// on this server.
func (r *Resolver) Resolve(ctx context.Context, fetch Fetcher, system, value string) ([]string, error) {
	return r.resolve(ctx, system, value, func(ctx context.Context) ([]string, error) {
		return r.lookup(ctx, fetch, system, value)
	})
}

func (r *Resolver) lookup(ctx context.Context, fetch Fetcher, system, value string) ([]string, error) {
	q := url.Values{}
	q.Set("identifier", system+"|"+value)
	// _count guards against a server that ignores identifier: a full page
	// of unrelated Patients is filtered below, and a further page is an
	// error rather than silently dropped matches.
	q.Set("_count", "50")
	status, body, err := fetch(ctx, q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookupFailed, err)
	}
	if status != 200 {
		return nil, fmt.Errorf("%w: upstream status %d", ErrLookupFailed, status)
	}
	return matchingIDs(body, system, value)
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	Link         []struct {
		Relation string `json:"relation"`
	} `json:"link"`
	Entry []struct {
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Identifier   []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		} `json:"resource"`
	} `json:"entry"`
}

// matchingIDs extracts the ids of Patients that really carry the identifier.
func matchingIDs(body []byte, system, value string) ([]string, error) {
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: body is not a Bundle", ErrLookupFailed)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("%w: body is not a Bundle", ErrLookupFailed)
	}
	ids := []string{}
	for _, e := range b.Entry {
		res := e.Resource
		if res.ResourceType != "Patient" || res.ID == "" {
			continue
		}
		for _, id := range res.Identifier {
			if id.System == system && id.Value == value {
				if !slices.Contains(ids, res.ID) {
					ids = append(ids, res.ID)
				}
				break
			}
		}
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			// More than one page: either many duplicates or a server
			// ignoring the identifier. Refusing is safer than deciding
			// on a partial patient context.
			return nil, fmt.Errorf("%w: too many matching Patients", ErrLookupFailed)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
