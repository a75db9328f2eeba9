package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEncodedAccessTokenRefused (issue #16): a second token under any
// percent-encoded spelling of access_token, in the query or in a POST
// _search form body, is 400 and never reaches the upstream, whose answer
// would otherwise carry data.
func TestEncodedAccessTokenRefused(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	s.expectStatus(t, c, token, "/Observation", http.StatusOK)
	other := s.labToken(t, "hospital-a", "000000018")

	for _, name := range []string{"access_token", "access%5Ftoken", "%61ccess_token", "access%5ftoken"} {
		t.Run("query "+name, func(t *testing.T) {
			before := s.denials(t, "token_sent_twice")
			r := s.expectStatus(t, c, token, "/Observation?"+name+"="+other, http.StatusBadRequest)
			if code := operationOutcomeCode(t, r.body); code != "invalid" {
				t.Errorf("OperationOutcome code %q, want invalid", code)
			}
			if strings.Contains(string(r.body), other) || strings.Contains(string(r.body), `"Bundle"`) {
				t.Errorf("the answer echoes the token or carries data: %.300s", r.body)
			}
			if got := s.denials(t, "token_sent_twice") - before; got != 1 {
				t.Errorf("token_sent_twice denials grew by %v, want 1", got)
			}
		})
		t.Run("form "+name, func(t *testing.T) {
			before := s.denials(t, "token_sent_twice")
			// url.Values would encode the name again: build the body by hand.
			req, err := http.NewRequest(http.MethodPost, s.pepBase+"/Observation/_search",
				strings.NewReader("code=x&"+name+"="+url.QueryEscape(other)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if got := s.denials(t, "token_sent_twice") - before; got != 1 {
				t.Errorf("token_sent_twice denials grew by %v, want 1", got)
			}
		})
	}
}

// TestIntrospectionBudget (issue #16): a burst of random tokens from one
// member over 16 connections is capped at the member's budget: beyond it
// the PEP answers 503 with Retry-After (audit reason pcm_budget) without
// calling PCM, and another member's request in the meantime is served.
func TestIntrospectionBudget(t *testing.T) {
	s := stackFor(t)
	const flood, conns = 200, 16
	clients := make([]*http.Client, conns)
	for i := range clients {
		clients[i] = s.memberClient(t, "clinic-c")
	}
	quiet := s.memberClient(t, "hospital-a")
	quietToken := s.labToken(t, "hospital-a", "000000018")

	calls := func() float64 {
		var sum float64
		for _, o := range []string{"active", "inactive", "timeout", "transport", "unauthorized", "http_status", "malformed", "token_error"} {
			sum += s.metric(t, `caddy_fhir_pep_introspection_requests_total{outcome="`+o+`"}`)
		}
		return sum
	}
	beforeCalls, beforeBudget := calls(), s.denials(t, "pcm_budget")
	start := time.Now()

	var mu sync.Mutex
	statuses := map[int]int{}
	var retryAfterMissing int
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < flood; j += conns {
				r, err := s.send(clients[i], randomOpaqueToken(t), "/Observation")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[r.status]++
				if r.status == http.StatusServiceUnavailable {
					if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs <= 0 {
						retryAfterMissing++
					}
				}
				mu.Unlock()
			}
		}()
	}
	quietStatus := s.get(t, quiet, quietToken, "/Observation").status
	wg.Wait()
	elapsed := time.Since(start)

	made := calls() - beforeCalls
	refused := s.denials(t, "pcm_budget") - beforeBudget
	t.Logf("%d random tokens from one member in %s: %v PCM calls, %v refused (pcm_budget), statuses %v",
		flood, elapsed.Round(time.Millisecond), made, refused, statuses)
	// The burst (40) plus what 20 calls/s earn during the run, plus the
	// quiet member's one call.
	limit := 40 + 20*elapsed.Seconds() + 1
	if made > limit {
		t.Errorf("%v PCM calls, want at most %.0f", made, limit)
	}
	if refused == 0 || int(refused) != statuses[http.StatusServiceUnavailable] {
		t.Errorf("%v pcm_budget denials for %d 503 answers", refused, statuses[http.StatusServiceUnavailable])
	}
	if retryAfterMissing > 0 {
		t.Errorf("%d 503 answers without Retry-After", retryAfterMissing)
	}
	if statuses[http.StatusUnauthorized]+statuses[http.StatusServiceUnavailable] != flood {
		t.Errorf("statuses %v: random tokens must be 401 (asked) or 503 (budget)", statuses)
	}
	if quietStatus != http.StatusOK {
		t.Errorf("another member got %d during the flood, want 200", quietStatus)
	}

	// Leave the flooding member's budget refilled for the tests after this.
	if err := poll(5*time.Second, func() (bool, error) {
		r, err := s.send(clients[0], randomOpaqueToken(t), "/Observation")
		return err == nil && r.status == http.StatusUnauthorized, err
	}); err != nil {
		t.Fatalf("the member's budget did not refill: %v", err)
	}
}

// randomOpaqueToken is a token PCM never issued (PCM answers inactive).
func randomOpaqueToken(t *testing.T) string {
	t.Helper()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
