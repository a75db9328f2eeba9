package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The HDP information bucket code systems: the IG's and the seed's alias.
const (
	bucketSystem      = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	bucketSystemAlias = "http://fhir.health.gov.il/cs/hdp-information-buckets"
	nationalIDSystem  = "http://fhir.health.gov.il/identifier/il-national-id"

	// labScope grants the patient's lab Observations (SMART v2 with an
	// HDP bucket constraint, as PCM issues them).
	labScope = "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests"
)

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type reference struct {
	Reference string `json:"reference"`
}

// resource holds the fields of a FHIR resource the suite checks.
type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		Security []coding `json:"security"`
	} `json:"meta"`
	Subject   *reference  `json:"subject"`
	Patient   *reference  `json:"patient"`
	Performer []reference `json:"performer"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundle struct {
	ResourceType string       `json:"resourceType"`
	Type         string       `json:"type"`
	Total        *int         `json:"total"`
	Link         []bundleLink `json:"link"`
	Entry        []struct {
		FullURL  string   `json:"fullUrl"`
		Resource resource `json:"resource"`
		Search   *struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func decodeBundle(t *testing.T, body []byte) bundle {
	t.Helper()
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("want a Bundle, got %.300s", body)
	}
	return b
}

func decodeResource(t *testing.T, body []byte) resource {
	t.Helper()
	var r resource
	if err := json.Unmarshal(body, &r); err != nil || r.ResourceType == "" {
		t.Fatalf("want a FHIR resource, got %.300s", body)
	}
	return r
}

// resources returns the entries' resources except OperationOutcomes (a PEP
// may annotate withheld entries).
func (b bundle) resources() []resource {
	var out []resource
	for _, e := range b.Entry {
		if e.Resource.ResourceType != "OperationOutcome" {
			out = append(out, e.Resource)
		}
	}
	return out
}

func (b bundle) link(relation string) string {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

// keys returns "Type/id" of resources, sorted.
func keys(rs []resource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ResourceType+"/"+r.ID)
	}
	sort.Strings(out)
	return out
}

// hasBucket tells whether r carries the bucket code, under either system
// and in any letter case (the HDP code system is case-insensitive).
func hasBucket(r resource, code string) bool {
	for _, c := range r.Meta.Security {
		if (c.System == bucketSystem || c.System == bucketSystemAlias) && strings.EqualFold(c.Code, code) {
			return true
		}
	}
	return false
}

// subjectOf returns the Patient reference of a resource (subject or patient).
func subjectOf(r resource) string {
	if r.Subject != nil {
		return r.Subject.Reference
	}
	if r.Patient != nil {
		return r.Patient.Reference
	}
	return ""
}

// upstream reads the FHIR server directly, bypassing the PEP: the suite's
// ground truth.
func (s *stack) upstream(t *testing.T, pathAndQuery string) []byte {
	t.Helper()
	resp, err := http.Get(s.upstreamBase + pathAndQuery)
	if err != nil {
		t.Fatalf("upstream GET %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("upstream GET %s: %v", pathAndQuery, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upstream GET %s: status %d", pathAndQuery, resp.StatusCode)
	}
	return body
}

// patientIDs returns the upstream Patient ids carrying a national id.
func (s *stack) patientIDs(t *testing.T, nationalID string) []string {
	t.Helper()
	q := url.Values{"identifier": {nationalIDSystem + "|" + nationalID}, "_count": {"1000"}}
	b := decodeBundle(t, s.upstream(t, "/Patient?"+q.Encode()))
	var ids []string
	for _, r := range b.resources() {
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		t.Fatalf("test data: no upstream Patient has national id %s", nationalID)
	}
	sort.Strings(ids)
	return ids
}

// upstreamSearch returns every resource of a search run directly upstream.
func (s *stack) upstreamSearch(t *testing.T, typ string, q url.Values) []resource {
	t.Helper()
	q.Set("_count", "1000")
	return decodeBundle(t, s.upstream(t, "/"+typ+"?"+q.Encode())).resources()
}

// upstreamObservations returns all Observations of a patient (every one of
// its Patient ids), whatever their buckets. An Observation is the patient's
// only if every Patient it references on its compartment paths (subject,
// performer) is her: one of hers performed by another patient names that
// other patient, and the PEP withholds it.
func (s *stack) upstreamObservations(t *testing.T, nationalID string) []resource {
	t.Helper()
	var refs []string
	for _, id := range s.patientIDs(t, nationalID) {
		refs = append(refs, "Patient/"+id)
	}
	all := s.upstreamSearch(t, "Observation", url.Values{"subject": {strings.Join(refs, ",")}})
	return slices.DeleteFunc(all, func(r resource) bool {
		for _, p := range r.Performer {
			if strings.HasPrefix(p.Reference, "Patient/") && !slices.Contains(refs, p.Reference) {
				return true
			}
		}
		return false
	})
}

// withBucket keeps the resources carrying the bucket.
func withBucket(rs []resource, code string) []resource {
	return slices.DeleteFunc(slices.Clone(rs), func(r resource) bool { return !hasBucket(r, code) })
}
