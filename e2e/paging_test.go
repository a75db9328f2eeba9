package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestPagingHAPI pages through the demo FHIR server in its HAPI-style mode
// (the suite runs it with PAGING=hapi): the upstream's next links are
// "<base>?_getpages=<id>&_getpagesoffset=<n>", opaque to the PEP. The
// client gets sealed links of the PEP's own (/_page?p=...), never an
// upstream address or a _getpages id, and each one opens only for the
// token it was issued to.
func TestPagingHAPI(t *testing.T) {
	s := stackFor(t)
	up := decodeBundle(t, s.upstream(t, "/Observation?_count=1"))
	if next := up.link("next"); !strings.Contains(next, "_getpages=") {
		t.Fatalf("the demo FHIR server does not page HAPI-style (PAGING=hapi): next link %q", next)
	}
	want := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(want) < 3 {
		t.Fatalf("test data: need at least 3 lab Observations of 000000026 to page, have %v", want)
	}
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000026")

	var got []resource
	var pageLinks []string
	target := "/Observation?_count=2"
	for pages := 1; target != ""; pages++ {
		if pages > len(want) {
			t.Fatalf("more than %d pages: the next links loop", len(want))
		}
		r := s.expectStatus(t, c, token, target, http.StatusOK)
		if strings.Contains(string(r.body), "_getpages") {
			t.Fatalf("page %d shows the upstream's paging id: %.400s", pages, r.body)
		}
		b := decodeBundle(t, r.body)
		got = append(got, b.resources()...)
		if self := b.link("self"); pages == 1 && self != s.pepBase+"/Observation?_count=2" {
			t.Errorf("self link %q, want the client's own request", self)
		}
		target = b.link("next")
		if target != "" {
			if !strings.HasPrefix(target, s.pepBase+"/_page?p=") {
				t.Fatalf("page %d: next link %q is not a sealed PEP link", pages, target)
			}
			pageLinks = append(pageLinks, target)
		}
	}
	if len(pageLinks) == 0 {
		t.Fatalf("%d lab Observations in one page of _count=2: no next link", len(got))
	}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("pages hold %v, want %v", keys(got), want)
	}

	link := pageLinks[0]
	t.Run("another patient's token is refused", func(t *testing.T) {
		other := s.labToken(t, "hospital-a", "000000018")
		r := s.expectStatus(t, c, other, link, http.StatusForbidden)
		if code := operationOutcomeCode(t, r.body); code != "forbidden" {
			t.Fatalf("issue code %q", code)
		}
	})
	t.Run("a tampered link is refused", func(t *testing.T) {
		i := len(s.pepBase+"/_page?p=") + 10
		b := []byte(link)
		if b[i] == 'x' {
			b[i] = 'y'
		} else {
			b[i] = 'x'
		}
		s.expectStatus(t, c, token, string(b), http.StatusBadRequest)
	})
	t.Run("extra parameters are refused", func(t *testing.T) {
		s.expectStatus(t, c, token, link+"&_count=1000", http.StatusBadRequest)
	})
}
