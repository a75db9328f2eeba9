package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScaleOut: two fhir-pep instances that share only configuration (the
// same Caddyfile but for its ports, the same NTN, PCM, upstream, audit key)
// serve one data source. A layer-4 balancer cannot be built from standard
// Caddy and a layer-7 one would end the client's TLS, so the client
// alternates between the two instances itself, as a TCP balancer would
// spread its connections (README "Deployment: several instances"). Both
// accept one token (one `resource`), a search is paged through both, a
// member removed from NTN is refused by both within the manifest refresh
// bound, and a revoked token by both within pcm cache_ttl.
func TestScaleOut(t *testing.T) {
	s := stackFor(t)
	demo, err := os.ReadFile(filepath.Join(s.root, "examples", "demo", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const resourceLine = "resource https://localhost:{$PEP_PORT:9443}/fhir/R4"
	if !strings.Contains(string(demo), resourceLine) {
		t.Fatalf("examples/demo/Caddyfile has no line %q", resourceLine)
	}
	// One public base for both: that of the balancer, here the first
	// instance's address.
	config := filepath.Join(s.dir, "Caddyfile.second")
	if err := os.WriteFile(config, []byte(strings.Replace(string(demo), resourceLine, "resource "+s.pepBase, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.startPEPWith(config, "fhir-pep-second", ports[0], ports[1], filepath.Join(s.dir, "pep-second-ntn"), "INFO")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(p); err != nil {
			t.Error(err)
		}
	})
	second := fmt.Sprintf("https://localhost:%d%s", ports[0], fhirBase)
	instances := []string{s.pepBase, second}
	// on sends a path (or a link under the public base) to instance i.
	on := func(i int, target string) string {
		return instances[i] + strings.TrimPrefix(strings.TrimPrefix(target, s.pepBase), second)
	}

	c := s.memberClient(t, "hospital-a")
	m := s.mint(t, grant{Patient: "000000026", Scope: labScope, Member: "hospital-a"})
	want := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(want) < 3 {
		t.Fatalf("test data: need at least 3 lab Observations of 000000026 to page, have %v", want)
	}

	t.Run("paging through both instances", func(t *testing.T) {
		var got []resource
		target, pages := "/Observation?_count=2", 0
		for target != "" {
			if pages > len(want) {
				t.Fatalf("more than %d pages: the next links loop", len(want))
			}
			b := decodeBundle(t, s.expectStatus(t, c, m.Token, on(pages%2, target), http.StatusOK).body)
			got = append(got, b.resources()...)
			for _, l := range b.Link {
				if !strings.HasPrefix(l.URL, s.pepBase+"/") {
					t.Errorf("page %d from instance %d: %s link %q is not under the one public base", pages, pages%2, l.Relation, l.URL)
				}
			}
			target = b.link("next")
			pages++
		}
		if pages < 2 {
			t.Fatal("one page: nothing was paged across instances")
		}
		if !slices.Equal(keys(got), want) {
			t.Fatalf("pages hold %v, want %v", keys(got), want)
		}
	})

	t.Run("a member removed from NTN is refused by both", func(t *testing.T) {
		cc := s.memberClient(t, "clinic-c")
		token := s.labToken(t, "clinic-c", "000000026")
		for i := range instances {
			s.expectStatus(t, cc, token, on(i, "/Observation"), http.StatusOK)
		}
		t.Cleanup(func() {
			s.ntnMember(t, "org-sp-clinic-c", "restore")
			for i := range instances {
				err := poll(removalWait, func() (bool, error) {
					r, err := s.send(s.memberClient(t, "clinic-c"), token, on(i, "/Observation"))
					return err == nil && r.status == http.StatusOK, nil
				})
				if err != nil {
					t.Errorf("instance %d does not trust clinic-c again after the restore: %v", i, err)
				}
			}
		})
		s.ntnMember(t, "org-sp-clinic-c", "remove")
		removed := time.Now()
		for i := range instances {
			// Refused on the open connection (403) or at the handshake of a
			// new one: either way no answer with data.
			err := poll(removalWait, func() (bool, error) {
				r, err := s.send(cc, token, on(i, "/Observation"))
				return err != nil || r.status == http.StatusForbidden, nil
			})
			if err != nil {
				t.Fatalf("instance %d still serves the removed member %s after the removal (bound %s)", i, time.Since(removed).Round(time.Millisecond), removalWait)
			}
			t.Logf("instance %d refuses the removed member %s after the removal", i, time.Since(removed).Round(time.Millisecond))
		}
	})

	t.Run("a revoked token is refused by both", func(t *testing.T) {
		for i := range instances {
			s.expectStatus(t, c, m.Token, on(i, "/Observation"), http.StatusOK) // both cache PCM's "active"
		}
		s.revoke(t, m.ID)
		revoked := time.Now()
		for i := range instances {
			err := poll(pcmCacheTTL+5*time.Second, func() (bool, error) {
				r, err := s.send(c, m.Token, on(i, "/Observation"))
				return err == nil && r.status == http.StatusUnauthorized, nil
			})
			if err != nil {
				t.Fatalf("instance %d still accepts the token %s after its revocation (pcm cache_ttl %s)", i, time.Since(revoked).Round(time.Millisecond), pcmCacheTTL)
			}
		}
	})
}
