package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// nationalGrant is a pcm-sim mint request in the shapes of the national
// PCM (DESIGN.md section 4b; examples/README.md).
type nationalGrant struct {
	Patient          string   `json:"patient"`
	Scope            string   `json:"scope"`
	Member           string   `json:"member"`
	PatientBare      bool     `json:"patient_bare,omitempty"`
	ConsentID        string   `json:"consent_id,omitempty"`
	ConsentIDClaim   bool     `json:"consent_id_claim,omitempty"`
	Baskets          any      `json:"baskets,omitempty"`
	AccessType       string   `json:"access_type,omitempty"`
	SPOrganizationID string   `json:"sp_organization_id,omitempty"`
	NotBefore        string   `json:"nbf_after,omitempty"`
	Omit             []string `json:"omit,omitempty"`
}

func (s *stack) mintNational(t *testing.T, g nationalGrant) string {
	t.Helper()
	var m minted
	s.admin(t, s.pcmAdmin+"/admin/tokens", g, http.StatusCreated, &m)
	if m.Token == "" {
		t.Fatalf("pcm-sim minted no token: %+v", m)
	}
	s.remember(m.Token)
	return m.Token
}

// labOrMeasurementsScope grants two buckets; the baskets decide which of
// them the patient consented to.
const labOrMeasurementsScope = "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests," + bucketSystem + "|Measurements"

// TestNationalTokenShapes: tokens in the shapes the national PCM issues
// (bare patient, consent_id, baskets as codes or objects,
// sp_organization_id) are accepted, and the baskets narrow the scopes: a
// bucket leaves only when a scope and a basket both grant it.
func TestNationalTokenShapes(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	all := s.upstreamObservations(t, "000000018")
	lab, measurements := keys(withBucket(all, "laboratoryTests")), keys(withBucket(all, "measurements"))
	if len(lab) == 0 || len(measurements) == 0 {
		t.Fatalf("test data: patient 000000018 needs lab and measurements Observations, has %v", keys(all))
	}
	both := slices.Compact(keys(append(withBucket(all, "laboratoryTests"), withBucket(all, "measurements")...)))
	national := nationalGrant{
		Patient: "000000018", PatientBare: true, Member: "hospital-a",
		ConsentID: "PCM-CONSENT-0001", ConsentIDClaim: true,
		AccessType: "continuous", SPOrganizationID: "org-sp-hospital-a",
	}
	tests := []struct {
		name    string
		scope   string
		baskets any
		want    []string
	}{
		{name: "no baskets claim: the scopes decide", scope: labOrMeasurementsScope, want: both},
		{name: "baskets as codes, narrower than the scopes", scope: labOrMeasurementsScope, baskets: []string{"laboratoryTests"}, want: lab},
		{name: "baskets as objects in the alias system", scope: labOrMeasurementsScope,
			baskets: []map[string]string{{"code": "MEASUREMENTS", "system": bucketSystemAlias}}, want: measurements},
		{name: "baskets wider than the scopes", scope: labScope, baskets: []string{"laboratoryTests", "measurements"}, want: lab},
		// The national reference adapter's own example: the scope names no
		// bucket, the baskets bound it.
		{name: "national adapter shape: scope without buckets, baskets as codes", scope: "patient/Observation.rs", baskets: []string{"laboratoryTests"}, want: lab},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := national
			g.Scope, g.Baskets = tc.scope, tc.baskets
			token := s.mintNational(t, g)
			got := keys(decodeBundle(t, s.expectStatus(t, c, token, "/Observation?_count=100", http.StatusOK).body).resources())
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v (upstream holds %v)", got, want, keys(all))
			}
		})
	}

	t.Run("a bucket outside the baskets is refused on read", func(t *testing.T) {
		g := national
		g.Scope, g.Baskets = labOrMeasurementsScope, []string{"laboratoryTests"}
		token := s.mintNational(t, g)
		for _, key := range measurements {
			s.expectStatus(t, c, token, "/"+key, http.StatusNotFound)
		}
	})
}

// TestNationalTokenRefusals: a token PCM vouches for but whose claims this
// data source cannot act on is 401 invalid_token (never 503, never a
// patient lookup); a token of another organization is 403.
func TestNationalTokenRefusals(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	base := nationalGrant{Patient: "000000018", Scope: labScope, Member: "hospital-a", Baskets: []string{"laboratoryTests"}}
	tests := []struct {
		name   string
		edit   func(g *nationalGrant)
		status int
	}{
		{name: "bad check digit", edit: func(g *nationalGrant) { g.Patient, g.PatientBare = "000000019", true }, status: http.StatusUnauthorized},
		{name: "baskets not a list", edit: func(g *nationalGrant) { g.Baskets = "laboratoryTests" }, status: http.StatusUnauthorized},
		{name: "basket with a bad historical_depth", edit: func(g *nationalGrant) {
			g.Baskets = []map[string]string{{"code": "laboratoryTests", "historical_depth": "last year"}}
		}, status: http.StatusUnauthorized},
		{name: "no cnf", edit: func(g *nationalGrant) { g.Omit = []string{"cnf"} }, status: http.StatusUnauthorized},
		{name: "no consent reference", edit: func(g *nationalGrant) { g.Omit = []string{"fhirContext"} }, status: http.StatusUnauthorized},
		{name: "nbf in the future", edit: func(g *nationalGrant) { g.NotBefore = "10m" }, status: http.StatusUnauthorized},
		{name: "another organization", edit: func(g *nationalGrant) { g.SPOrganizationID = "org-sp-someone-else" }, status: http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base
			tc.edit(&g)
			token := s.mintNational(t, g)
			r := s.expectStatus(t, c, token, "/Observation", tc.status)
			if tc.status == http.StatusUnauthorized && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q, want invalid_token", r.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(r.body), "000000019") {
				t.Error("the answer repeats the national id")
			}
		})
	}
}
