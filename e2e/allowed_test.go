package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestLabObservationsOfThePatient is the positive path: a member with a
// lab-bucket token gets exactly the patient's lab Observations, as the FHIR
// server holds them. A PEP that denies everything fails here (the answer
// must be non-empty); one that lets everything through fails too (the
// upstream holds other buckets, unlabelled data and other patients).
func TestLabObservationsOfThePatient(t *testing.T) {
	s := stackFor(t)
	tests := []struct {
		name       string
		client     string // demo client certificate
		nationalID string
	}{
		{"CA-issued member hospital-a, patient 000000018", "hospital-a", "000000018"},
		{"CA-issued member hospital-a, patient 000000026", "hospital-a", "000000026"},
		{"pinned self-signed member clinic-c, patient 000000026", "clinic-c", "000000026"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := s.upstreamObservations(t, tc.nationalID)
			want := keys(withBucket(all, "laboratoryTests"))
			if len(want) == 0 {
				t.Fatalf("test data: patient %s has no lab Observation upstream", tc.nationalID)
			}
			ids := s.patientIDs(t, tc.nationalID)
			c := s.memberClient(t, tc.client)
			token := s.labToken(t, tc.client, tc.nationalID)

			b := decodeBundle(t, s.expectStatus(t, c, token, "/Observation?_count=100", http.StatusOK).body)
			if b.Type != "searchset" {
				t.Errorf("Bundle.type %q, want searchset", b.Type)
			}
			got := b.resources()
			if !slices.Equal(keys(got), want) {
				t.Fatalf("got %v, want exactly the patient's lab Observations %v (upstream holds %v)", keys(got), want, keys(all))
			}
			for _, r := range got {
				if !hasBucket(r, "laboratoryTests") {
					t.Errorf("%s/%s lacks the lab bucket: %+v", r.ResourceType, r.ID, r.Meta.Security)
				}
				if ref := subjectOf(r); !slices.Contains(ids, strings.TrimPrefix(ref, "Patient/")) {
					t.Errorf("%s/%s belongs to %q, not to one of %v", r.ResourceType, r.ID, ref, ids)
				}
			}
			for _, e := range b.Entry {
				if !strings.HasPrefix(e.FullURL, s.pepBase+"/") {
					t.Errorf("fullUrl %q does not point at the PEP %s", e.FullURL, s.pepBase)
				}
			}

			for _, r := range got {
				body := s.expectStatus(t, c, token, "/Observation/"+r.ID, http.StatusOK).body
				read := decodeResource(t, body)
				if read.ResourceType != "Observation" || read.ID != r.ID || !hasBucket(read, "laboratoryTests") {
					t.Errorf("read Observation/%s: got %s/%s %+v", r.ID, read.ResourceType, read.ID, read.Meta.Security)
				}
			}
		})
	}
}

// TestCapabilityStatement: GET /metadata answers the server's
// CapabilityStatement (no patient data, but a token is still required).
func TestCapabilityStatement(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	r, err := s.send(c, token, "/metadata")
	if err != nil {
		t.Fatalf("GET /metadata: %v", err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET /metadata: status %d, want 200; body %.300s", r.status, r.body)
	}
	if res := decodeResource(t, r.body); res.ResourceType != "CapabilityStatement" {
		t.Fatalf("GET /metadata: resourceType %q", res.ResourceType)
	}
	if !strings.Contains(string(r.body), `"fhirVersion":"4.0.1"`) {
		t.Errorf("GET /metadata: no fhirVersion 4.0.1 in %.200s", r.body)
	}
}

// TestMetadataHidesUpstreamAddress: the CapabilityStatement the PEP passes
// on must not reveal where the upstream FHIR server is (FHIR servers put
// their base URL in implementation.url). It may name the PEP's own base.
func TestMetadataHidesUpstreamAddress(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	r := s.expectStatus(t, c, token, "/metadata", http.StatusOK)
	var cs struct {
		Implementation *struct {
			URL string `json:"url"`
		} `json:"implementation"`
	}
	if err := json.Unmarshal(r.body, &cs); err != nil {
		t.Fatal(err)
	}
	if cs.Implementation != nil && cs.Implementation.URL != "" && cs.Implementation.URL != s.pepBase {
		t.Errorf("implementation.url %q, want the PEP's base %s or none", cs.Implementation.URL, s.pepBase)
	}
}

// TestPaging follows next links: they must point at the PEP, and the pages
// together must be exactly the patient's lab Observations.
func TestPaging(t *testing.T) {
	s := stackFor(t)
	want := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(want) < 3 {
		t.Fatalf("test data: need at least 3 lab Observations of 000000026 to page, have %v", want)
	}
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000026")

	var got []resource
	target := "/Observation?_count=2"
	pages := 0
	for target != "" {
		pages++
		if pages > len(want) {
			t.Fatalf("more than %d pages: the next links loop", len(want))
		}
		b := decodeBundle(t, s.expectStatus(t, c, token, target, http.StatusOK).body)
		page := b.resources()
		// A page may be empty: everything on it can have been withheld
		// (patient 2's own glucose test names patient 1 as performer).
		if len(page) > 2 {
			t.Fatalf("page %d has %d entries, want at most 2", pages, len(page))
		}
		got = append(got, page...)
		for _, l := range b.Link {
			if !strings.HasPrefix(l.URL, s.pepBase+"/") {
				t.Errorf("page %d: %s link %q does not point at the PEP", pages, l.Relation, l.URL)
			}
		}
		target = b.link("next")
	}
	if pages < 2 {
		t.Fatalf("%d lab Observations in one page of _count=2: no next link", len(got))
	}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("pages hold %v, want %v", keys(got), want)
	}
}
