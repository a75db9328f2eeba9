package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestPCMOutage: while PCM is down, a token the PEP has not introspected
// yet is refused with 503 and Retry-After (fail closed); once PCM is back,
// the same token works.
func TestPCMOutage(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")

	s.pcmOutage(t, true)
	t.Cleanup(func() { s.pcmOutage(t, false) })
	token := s.labToken(t, "hospital-a", "000000018")
	before := s.denials(t, "pcm_unavailable")
	r := s.expectStatus(t, c, token, "/Observation", http.StatusServiceUnavailable)
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Errorf("Retry-After %q, want a positive number of seconds", r.header.Get("Retry-After"))
	}
	if code := operationOutcomeCode(t, r.body); code != "transient" {
		t.Errorf("OperationOutcome code %q, want transient", code)
	}
	if got := s.denials(t, "pcm_unavailable") - before; got != 1 {
		t.Errorf("pcm_unavailable denials grew by %v, want 1", got)
	}

	s.pcmOutage(t, false)
	var last int
	err := poll(10*time.Second, func() (bool, error) {
		last = s.get(t, c, token, "/Observation").status
		return last == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("PCM is back but the token still gets %d: %v", last, err)
	}
	if got := len(decodeBundle(t, s.expectStatus(t, c, token, "/Observation", http.StatusOK).body).resources()); got == 0 {
		t.Error("PCM is back but the answer is empty")
	}
}
