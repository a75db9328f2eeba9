package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// removalWait bounds how long a manifest change may take to reach the PEP:
// one refresh interval (±10% jitter) plus the fetch.
const removalWait = 3 * ntnRefresh

// TestMemberRemovedOnLiveConnection: NTN removes two members (one trusted
// through its member CA, one pinned self-signed certificate). Connections
// they already hold open are refused with 403 on their next request after
// the PEP's next manifest refresh, and new connections fail the handshake.
// Both members are restored afterwards.
func TestMemberRemovedOnLiveConnection(t *testing.T) {
	s := stackFor(t)
	members := []struct {
		client, memberID string
		c                *http.Client
		token            string
	}{
		{client: "hospital-a", memberID: "org-sp-hospital-a"},
		{client: "clinic-c", memberID: "org-sp-clinic-c"},
	}
	for i := range members {
		m := &members[i]
		m.c = s.memberClient(t, m.client)
		m.token = s.labToken(t, m.client, "000000018")
		if r := s.expectStatus(t, m.c, m.token, "/Observation", http.StatusOK); r.reused {
			t.Fatalf("%s: the first request reused a connection", m.client)
		}
		if r := s.expectStatus(t, m.c, m.token, "/Observation", http.StatusOK); !r.reused {
			t.Fatalf("%s: the second request did not reuse the keep-alive connection", m.client)
		}
	}

	t.Cleanup(func() {
		for _, m := range members {
			s.ntnMember(t, m.memberID, "restore")
		}
		for _, m := range members {
			err := poll(removalWait, func() (bool, error) {
				r, err := s.send(s.memberClient(t, m.client), m.token, "/Observation")
				return err == nil && r.status == http.StatusOK, nil
			})
			if err != nil {
				t.Errorf("%s not trusted again after restore: %v", m.memberID, err)
			}
		}
	})
	untrusted := s.denials(t, "untrusted_certificate")
	inactive := s.handshakeRejections(t, "member_inactive")
	removed := time.Now()
	for _, m := range members {
		s.ntnMember(t, m.memberID, "remove")
	}

	for _, m := range members {
		t.Run(m.client, func(t *testing.T) {
			var last response
			err := poll(removalWait, func() (bool, error) {
				r, err := s.send(m.c, m.token, "/Observation")
				if err != nil {
					t.Fatalf("the open connection failed instead of answering 403: %v", err)
				}
				s.checkNoUpstreamAddress(t, "/Observation", r)
				if !r.reused {
					t.Fatalf("the request opened a new connection: the live connection was not kept (status %d)", r.status)
				}
				last = r
				switch r.status {
				case http.StatusOK:
					return false, nil // the PEP has not refreshed the manifest yet
				case http.StatusForbidden:
					return true, nil
				}
				t.Fatalf("status %d on the open connection, want 200 then 403", r.status)
				return false, nil
			})
			if err != nil {
				t.Fatalf("still allowed on the open connection %s after the removal: %v", time.Since(removed).Round(time.Millisecond), err)
			}
			t.Logf("refused on the open connection %s after the removal", time.Since(removed).Round(time.Millisecond))
			if code := operationOutcomeCode(t, last.body); code != "forbidden" {
				t.Errorf("OperationOutcome code %q, want forbidden", code)
			}
			if r, err := s.send(s.memberClient(t, m.client), m.token, "/Observation"); err == nil {
				t.Errorf("a new connection got HTTP %d, want the TLS handshake refused", r.status)
			}
		})
	}
	if got := s.denials(t, "untrusted_certificate") - untrusted; got < float64(len(members)) {
		t.Errorf("untrusted_certificate denials grew by %v, want at least %d", got, len(members))
	}
	// The new connections were refused as the removed members'
	// (member_inactive, docs/ntn.md), not as unknown certificates, and the
	// refusals are in the log at INFO with the member id.
	if got := s.handshakeRejections(t, "member_inactive") - inactive; got < float64(len(members)) {
		t.Errorf("member_inactive handshake rejections grew by %v, want at least %d", got, len(members))
	}
	for _, m := range members {
		if !logHas(t, s.pepLog, `"msg":"NTN client certificate refused"`, `"reason":"member_inactive"`, `"member_id":"`+m.memberID+`"`) {
			t.Errorf("no INFO record of the refused handshake of %s in %s", m.memberID, s.pepLog)
		}
	}
}

// logHas reports whether one line of the log at path holds every fragment.
func logHas(t *testing.T, path string, fragments ...string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(line, f)
		}
		if all {
			return true
		}
	}
	return false
}
