package paging

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hdp-il/fhir-pep/fhir"
)

// Link is one element of Bundle.link.
type Link struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// pagingRelation reports whether rel names a page of the same result set.
// "prev" is not an R4 code but HAPI and others send it.
func pagingRelation(rel string) bool {
	switch strings.ToLower(rel) {
	case "next", "previous", "prev", "first", "last":
		return true
	}
	return false
}

// RewriteLinks builds the Bundle.link a client receives from the one the
// upstream sent:
//
//   - self, when not empty, comes first and replaces the upstream's self
//     link (which echoes the narrowed query the PEP sent: every Patient id
//     of the patient, every spelling of the bucket codes). Build it with
//     SelfLink from the client's own parameters, or with PageURL for a page
//     that was itself reached through a page link;
//   - next, previous, prev, first and last links under the upstream base are
//     sealed (Link) with origin and bound to b, keeping the upstream's
//     order; only the
//     first link of each relation is kept, so a client never has to choose
//     between two "next" links;
//   - everything else is dropped: links to other hosts, the upstream self
//     link, any other relation, links without url or relation.
//
// A paging link outside the upstream base is dropped like any foreign link.
// One under the base that cannot be sealed (ErrLinkTooLong, ErrOrigin) fails the whole
// call: the caller should answer 502 rather than silently cut the result
// short.
func (s *Sealer) RewriteLinks(links []Link, self, origin string, b Binding) ([]Link, error) {
	out := make([]Link, 0, len(links)+1)
	if self != "" {
		out = append(out, Link{Relation: "self", URL: self})
	}
	var seen [5]string
	n := 0
outer:
	for _, l := range links {
		if l.URL == "" || !pagingRelation(l.Relation) {
			continue
		}
		rel := strings.ToLower(l.Relation)
		for _, r := range seen[:n] {
			if r == rel {
				continue outer
			}
		}
		sealed, err := s.Link(l.URL, origin, b)
		if err == ErrNotUpstream {
			continue
		}
		if err != nil {
			return nil, err
		}
		seen[n] = rel
		n++
		out = append(out, Link{Relation: l.Relation, URL: sealed})
	}
	return out, nil
}

// RewriteLinkArray is RewriteLinks over the raw JSON of Bundle.link (an
// array of objects). It returns the new array's JSON, or nil when no link
// remains: FHIR JSON has no empty arrays, so the caller removes the member.
// Elements that are not objects with string relation and url are dropped;
// raw that is not a JSON array is fhir.ErrInvalidBody.
func (s *Sealer) RewriteLinkArray(raw []byte, self, origin string, b Binding) ([]byte, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("null")) {
		return nil, fhir.ErrInvalidBody
	}
	links := make([]Link, 0, len(elems))
	for _, e := range elems {
		var m map[string]json.RawMessage
		if json.Unmarshal(e, &m) != nil {
			continue
		}
		var l Link
		if json.Unmarshal(m["relation"], &l.Relation) != nil || json.Unmarshal(m["url"], &l.URL) != nil {
			continue
		}
		links = append(links, l)
	}
	out, err := s.RewriteLinks(links, self, origin, b)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	// No HTML escaping: "&" stays "&" in the URLs, as clients and
	// humans reading the Bundle expect.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Origin is SelfLink relative to the public base: what RewriteLinks and
// Seal take as origin.
func (s *Sealer) Origin(path string, clientParams []fhir.Param) string {
	return strings.TrimPrefix(s.SelfLink(path, clientParams), s.publicS)
}

// SelfLink is the self link of a search answer as the client asked it: the
// public base, the request path relative to the FHIR base ("/Observation",
// "/Patient/123/Observation", "" for a system search) and the client's own
// parameters in their order, re-encoded with fhir.EncodeQuery. Pass the
// parameters as parsed from the client's request, before the PEP adds any
// (patient ids, bucket codes, the V label exclusion). An access_token
// parameter, in any letter case or with a modifier or chain, is left out
// whatever the caller passes: the token must never be echoed into a body.
func (s *Sealer) SelfLink(path string, clientParams []fhir.Param) string {
	keep := make([]fhir.Param, 0, len(clientParams))
	for _, p := range clientParams {
		if strings.EqualFold(p.Name, "access_token") {
			continue
		}
		keep = append(keep, p)
	}
	u := s.publicS + path
	if q := fhir.EncodeQuery(keep); q != "" {
		u += "?" + q
	}
	return u
}

// PageURL is the public URL of a page link whose sealed value the client
// followed: the self link of the page it leads to.
func (s *Sealer) PageURL(sealed string) string {
	return s.pagePrefix + sealed
}
