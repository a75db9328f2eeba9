package caddymodule

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/enforce"
)

func TestCapture(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	cases := []struct {
		name          string
		contentLength string // announced by the upstream; "" for none
		limit         int64
		writes        int // times body is written
		wantOverflow  bool
		wantMinCap    int // capacity the buffer must have after WriteHeader
	}{
		{"announced length sizes the buffer", "5000", 10000, 5, false, 5000},
		{"no announcement", "", 10000, 5, false, 0},
		{"announcement above the limit is not trusted", "1000000000", 10000, 5, false, 0},
		{"announcement below the truth: the limit still holds", "10", 2500, 3, true, 10},
		{"garbage announcement", "-5", 10000, 1, false, 0},
		{"exactly the limit", "3000", 3000, 3, false, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture(tc.limit)
			defer c.release()
			if tc.contentLength != "" {
				c.Header().Set("Content-Length", tc.contentLength)
			}
			c.WriteHeader(http.StatusOK)
			if c.body.Cap() < tc.wantMinCap {
				t.Fatalf("buffer capacity %d after WriteHeader, want at least %d", c.body.Cap(), tc.wantMinCap)
			}
			for range tc.writes {
				if n, err := c.Write(body); n != len(body) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if c.overflow != tc.wantOverflow {
				t.Fatalf("overflow = %v, want %v", c.overflow, tc.wantOverflow)
			}
			want := tc.writes * len(body)
			if tc.wantOverflow {
				want = 0 // nothing partial is kept
			}
			if c.body.Len() != want {
				t.Fatalf("kept %d bytes, want %d", c.body.Len(), want)
			}
		})
	}
}

// A capture taken from the pool after another was released starts empty:
// nothing of an earlier answer can leak into the next one.
func TestCaptureReuseStartsEmpty(t *testing.T) {
	for i := range 50 {
		c := newCapture(1 << 20)
		if c.body.Len() != 0 {
			t.Fatalf("round %d: a reused buffer holds %d bytes", i, c.body.Len())
		}
		c.Header().Set("Content-Length", strconv.Itoa(100+i))
		_, _ = c.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 100+i))
		c.release()
		if c.body != nil {
			t.Fatal("release kept the buffer")
		}
		c.release() // twice is harmless
	}
}

// TestCaptureEditedBytes: a checked Bundle the check left unchanged is the
// body itself (no output buffer taken); an edited one is rebuilt in the
// output buffer, which a second call reuses.
func TestCaptureEditedBytes(t *testing.T) {
	t.Run("unchanged", func(t *testing.T) {
		c := newCapture(1 << 20)
		defer c.release()
		ed, body := editedSearchset(t, 0)
		c.edited = ed
		if got := c.editedBytes(); &got[0] != &body[0] || c.out != nil {
			t.Fatal("an unchanged Bundle was copied")
		}
	})
	t.Run("edited", func(t *testing.T) {
		c := newCapture(1 << 20)
		ed, _ := editedSearchset(t, 50)
		c.edited = ed
		got := c.editedBytes()
		if !bytes.Contains(got, []byte("https://pep.test/fhir/Observation/49")) || bytes.Contains(got, []byte("up.test")) || len(got) != ed.Len() {
			t.Fatalf("rebuilt %s", got)
		}
		if again := c.editedBytes(); &again[0] != &got[0] {
			t.Fatal("the output buffer was not reused")
		}
		c.release()
		if c.out != nil {
			t.Fatal("output buffer not released")
		}
	})
}

// editedSearchset checks a searchset of n of the patient's Observations
// whose fullUrls name the upstream, so that the check moves every fullUrl:
// a real Edited with n edits over body.
func editedSearchset(t *testing.T, n int) (enforce.Edited, []byte) {
	t.Helper()
	e, err := enforce.New(enforce.Config{
		Compartment:  map[string][][]string{"Observation": {{"subject"}}},
		UpstreamBase: "http://up.test/fhir", PublicBase: "https://pep.test/fhir",
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Access(enforce.Scope{PatientIDs: []string{"p1"}, Grants: map[string][]enforce.Bucket{"Observation": {{System: bucketSystem, Code: "laboratoryTests"}}}})
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]string, n)
	for i := range entries {
		id := strconv.Itoa(i)
		entries[i] = `{"fullUrl":"http://up.test/fhir/Observation/` + id + `","resource":{"resourceType":"Observation","id":"` + id +
			`","meta":{"security":[{"system":"` + bucketSystem + `","code":"laboratoryTests"}]},"subject":{"reference":"Patient/p1"}}}`
	}
	body := []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
	var ed enforce.Edited
	st, err := a.FilterBundleEdited(body, enforce.FilterOptions{}, &ed)
	if err != nil || st.WithheldCount() != 0 {
		t.Fatalf("check: %v, %+v", err, st)
	}
	if ed.Unchanged() != (n == 0) {
		t.Fatalf("Unchanged %v for %d entries", ed.Unchanged(), n)
	}
	return ed, body
}
