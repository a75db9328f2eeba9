package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// grant is a token request to pcm-sim's admin API (examples/README.md).
type grant struct {
	Patient string   `json:"patient"`
	Scope   string   `json:"scope"`
	Member  string   `json:"member,omitempty"`
	TTL     string   `json:"ttl,omitempty"`
	Aud     string   `json:"aud,omitempty"`
	Omit    []string `json:"omit,omitempty"`
}

// minted is pcm-sim's answer: the opaque token and its id (jti).
type minted struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// mint issues a token at pcm-sim, as PCM would after the patient's consent.
func (s *stack) mint(t *testing.T, g grant) minted {
	t.Helper()
	var m minted
	s.admin(t, s.pcmAdmin+"/admin/tokens", g, http.StatusCreated, &m)
	if m.Token == "" || m.ID == "" {
		t.Fatalf("pcm-sim minted no token: %+v", m)
	}
	s.remember(m.Token)
	return m
}

// labToken mints a lab-bucket token for a patient, bound to a member's
// certificate.
func (s *stack) labToken(t *testing.T, member, nationalID string) string {
	t.Helper()
	return s.mint(t, grant{Patient: nationalID, Scope: labScope, Member: member}).Token
}

func (s *stack) revoke(t *testing.T, id string) {
	t.Helper()
	s.admin(t, s.pcmAdmin+"/admin/tokens/"+id+"/revoke", nil, http.StatusOK, nil)
}

func (s *stack) pcmOutage(t *testing.T, on bool) {
	t.Helper()
	s.admin(t, s.pcmAdmin+"/admin/outage", map[string]bool{"on": on}, http.StatusOK, nil)
}

// ntnMember removes, suspends or restores a member at ntn-sim and returns
// the new manifest version.
func (s *stack) ntnMember(t *testing.T, memberID, action string) int {
	t.Helper()
	var out struct {
		Version int `json:"version"`
	}
	s.admin(t, s.ntnAdmin+"/admin/members/"+memberID+"/"+action, nil, http.StatusOK, &out)
	return out.Version
}

// admin POSTs a JSON body to a simulator's admin API and decodes the answer.
func (s *stack) admin(t *testing.T, url string, in any, wantStatus int, out any) {
	t.Helper()
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("POST %s: status %d, want %d: %s", url, resp.StatusCode, wantStatus, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %v: %s", url, err, raw)
		}
	}
}
