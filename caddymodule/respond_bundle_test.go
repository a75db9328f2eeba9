package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A checked Bundle is written from the upstream's body and the check's
// edits, through a chunk smaller than the answer (capture.writeEdited): the
// client gets the whole answer, its Content-Length is the length of what
// is written, and what the check withheld or moved is not in it.
func TestBigSearchsetWrittenFromEdits(t *testing.T) {
	f := pageFixture(t)
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab")) // resolve the patient first
	up := strings.TrimSuffix(f.pep.UpstreamBase, "/")
	const n = 600 // about 180 KB kept: more than two 64 KiB chunks
	var entries []string
	for i := range n {
		patient, code := "p1", "laboratoryTests"
		switch i % 4 {
		case 1:
			patient = "p2" // another patient's: withheld
		case 2:
			code = "imaging" // a bucket the token lacks: withheld
		}
		res, _ := json.Marshal(observation(fmt.Sprintf("obs-%d", i), patient, code))
		res = append(res[:len(res)-1], `,"note":[{"text":"`+strings.Repeat("x", 250)+`"}]}`...)
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"%s/Observation/obs-%d","resource":%s,"search":{"mode":"match"}}`, up, i, res))
	}
	body := `{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(n) + `,"entry":[` + strings.Join(entries, ",") + `]}`
	answer := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !strings.Contains(r.URL.Path, "/Observation") {
			return proxyTo(f.fhir.srv.URL).ServeHTTP(w, r)
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, err := w.Write([]byte(body))
		return err
	})
	w := httptest.NewRecorder()
	if err := f.pep.ServeHTTP(w, f.request("GET", "/R4/Observation?category=laboratory", f.caller, "lab"), answer); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %.300s", w.Code, w.Body)
	}
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
		t.Fatalf("Content-Length %s for %d bytes written", cl, w.Body.Len())
	}
	if w.Body.Len() < 2*64<<10 {
		t.Fatalf("answer of %d bytes does not span the chunks", w.Body.Len())
	}
	var got struct {
		Entry []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ID      string `json:"id"`
				Subject struct {
					Reference string `json:"reference"`
				} `json:"subject"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	if len(got.Entry) != n/2 {
		t.Fatalf("%d entries, want %d", len(got.Entry), n/2)
	}
	for _, e := range got.Entry {
		if e.Resource.Subject.Reference != "Patient/p1" || e.FullURL != testResource+"/Observation/"+e.Resource.ID {
			t.Fatalf("entry %+v", e)
		}
	}
	if strings.Contains(w.Body.String(), up) {
		t.Fatal("upstream URL left in the answer")
	}
}
