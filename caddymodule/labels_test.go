package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hdp-il/fhir-pep/enforce"
)

const vLabel = "http://fhir.health.gov.il/cs/il-core-main-security-label|V"

// withLabel adds a security coding (system|code) to a resource's meta.
func withLabel(res map[string]any, label string) map[string]any {
	system, code, _ := strings.Cut(label, "|")
	meta := res["meta"].(map[string]any)
	meta["security"] = append(meta["security"].([]any), map[string]any{"system": system, "code": code})
	return res
}

func encounter(id, patientID, start string) map[string]any {
	return labelled(map[string]any{
		"resourceType": "Encounter", "id": id, "status": "finished",
		"subject": map[string]any{"reference": "Patient/" + patientID},
		"period":  map[string]any{"start": start, "end": start},
	}, "encounterInformation")
}

// auditReason is the reason of the audit record of the answer w.
func auditReason(t *testing.T, f *gateFixture, w *httptest.ResponseRecorder) string {
	t.Helper()
	id := w.Header().Get(decisionHeader)
	for _, e := range f.logs.FilterLoggerName("audit").All() {
		if m := e.ContextMap(); m["decision_id"] == id {
			r, _ := m["reason"].(string)
			return r
		}
	}
	t.Fatalf("no audit record for %s", id)
	return ""
}

func TestForbiddenLabels(t *testing.T) {
	f := newGateFixture(t)
	f.fhir.add(withLabel(observation("obs-v", "p1", "laboratoryTests"), vLabel))
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	notFoundBody := string(enforce.NotFoundBody())
	wantNot := []string{"_security:not=" + vLabel}

	search := func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var oo outcomeBody
		if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" {
			t.Fatalf("body %s", w.Body)
		}
		for _, s := range []string{"obs-v", "obs-lab", "label", "V\"", "forbidden", "il-core"} {
			if strings.Contains(w.Body.String(), s) {
				t.Fatalf("the answer says why (%q): %s", s, w.Body)
			}
		}
		if r := auditReason(t, f, w); r != "forbidden_label" {
			t.Fatalf("audit reason %q", r)
		}
	}
	tests := []struct {
		name   string
		method string
		target string
		form   string
		check  func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{"search with a labelled match", "GET", "/R4/Observation", "", search},
		{"search with the client's own _security:not", "GET", "/R4/Observation?_security:not=http://example.org/x|y", "", search},
		{"POST _search", "POST", "/R4/Observation/_search", "code=x", search},
		{"batch with a search entry", "POST", "/R4", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation?code=x"}}]}`, search},
		{"read of the labelled resource is a real-looking 404", "GET", "/R4/Observation/obs-v", "", func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Code != 404 || w.Body.String() != notFoundBody {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if r := auditReason(t, f, w); r != "forbidden_label" {
				t.Fatalf("audit reason %q", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.fhir.mu.Lock()
			f.fhir.requests = nil
			f.fhir.mu.Unlock()
			r := f.request(tc.method, tc.target, f.caller, "lab")
			if tc.form != "" {
				r = formRequest(f, tc.target, tc.form, "lab")
			}
			tc.check(t, f.serve(r))
			calls := f.fhir.received()
			last := calls[len(calls)-1]
			if !strings.Contains(last, "?") {
				return // a plain read: no search to narrow
			}
			for _, want := range wantNot {
				if !strings.Contains(last, want) {
					t.Fatalf("upstream search without %s: %s", want, last)
				}
			}
			if strings.Contains(tc.target, "_security:not") && !strings.Contains(last, "_security:not=http://example.org/x|y") {
				t.Fatalf("the client's own _security:not was dropped: %s", last)
			}
		})
	}
	if got := testutil.ToFloat64(f.pep.metrics.failClosed.WithLabelValues("forbidden_label")); got != 5 {
		t.Fatalf("fail_closed_total{reason=forbidden_label} = %v, want 5", got)
	}
}

// TestPatientLookupCarriesForbiddenLabels: the patient lookup is a search
// sent upstream too, so it carries _security:not for every forbidden label
// like every other search (a labelled Patient is never resolved).
func TestPatientLookupCarriesForbiddenLabels(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab")); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	f.fhir.mu.Lock()
	forms := slices.Clone(f.fhir.forms)
	f.fhir.mu.Unlock()
	var lookups int
	for _, form := range forms {
		if !strings.HasPrefix(form, "Patient ") {
			continue
		}
		lookups++
		q, err := url.ParseQuery(strings.TrimPrefix(form, "Patient "))
		if err != nil {
			t.Fatal(err)
		}
		if got := q["_security:not"]; !slices.Equal(got, []string{vLabel}) {
			t.Fatalf("patient lookup %q carries _security:not %q, want [%s]", form, got, vLabel)
		}
		if q.Get("identifier") == "" {
			t.Fatalf("patient lookup without identifier: %q", form)
		}
	}
	if lookups == 0 {
		t.Fatal("no patient lookup reached the upstream")
	}
}

// formRequest is a POST with a body, as request builds a GET: a form
// (POST _search), or a batch Bundle when it starts with "{".
func formRequest(f *gateFixture, target, form, token string) *http.Request {
	r := f.request("POST", target, f.caller, token)
	r.Body = io.NopCloser(strings.NewReader(form))
	r.ContentLength = int64(len(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if strings.HasPrefix(form, "{") {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	return r
}

func TestScopeConstraintsHoldOnTheResponse(t *testing.T) {
	f := newGateFixture(t)
	f.fhir.add(
		encounter("enc-2024", "p1", "2024-03-01"),
		encounter("enc-2023", "p1", "2023-03-01"),
		labelled(map[string]any{
			"resourceType": "Observation", "id": "obs-lab-path", "status": "final",
			"subject": map[string]any{"reference": "Patient/p1"},
		}, "laboratoryTests", "pathology"),
	)
	now := time.Now()
	f.pcm.set("enc", activeAnswer(f.caller, now, func(a map[string]any) {
		a["scope"] = "patient/Encounter.rs?_security=" + bucketSystem + "|EncounterInformation&date=ge2024-01-01"
	}))
	f.pcm.set("and", activeAnswer(f.caller, now, func(a map[string]any) {
		a["scope"] = "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests&_security=" + bucketSystem + "|Pathology"
	}))
	// Old versions and includes, which the lax fake does not serve: a
	// 2023 version of enc-2024, and enc-2023 as an include of any search
	// that asks for one.
	old := encounter("enc-2024", "p1", "2023-03-01")
	old["meta"].(map[string]any)["versionId"] = "1"
	lax := f.fhir.srv.Config.Handler
	f.fhir.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bundle := func(typ string, entries ...any) {
			w.Header().Set("Content-Type", "application/fhir+json")
			_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": typ, "entry": entries})
		}
		entry := func(res map[string]any, mode string) map[string]any {
			e := map[string]any{"fullUrl": f.fhir.base + "/Encounter/" + res["id"].(string), "resource": res}
			if mode != "" {
				e["search"] = map[string]any{"mode": mode}
			}
			return e
		}
		switch {
		case r.URL.Path == "/R4/Encounter/enc-2024/_history/1":
			w.Header().Set("Content-Type", "application/fhir+json")
			_ = json.NewEncoder(w).Encode(old)
		case r.URL.Path == "/R4/Encounter/enc-2024/_history":
			bundle("history", entry(encounter("enc-2024", "p1", "2024-03-01"), ""), entry(old, ""))
		case r.URL.Path == "/R4/Encounter" && r.URL.Query().Get("_include") != "":
			bundle("searchset", entry(encounter("enc-2024", "p1", "2024-03-01"), "match"), entry(encounter("enc-2023", "p1", "2023-03-01"), "include"))
		default:
			lax.ServeHTTP(w, r)
		}
	})
	tests := []struct {
		name, token, target string
		status              int
		ids                 string
	}{
		{"vread of a version outside the date is a 404", "enc", "/R4/Encounter/enc-2024/_history/1", 404, ""},
		{"history keeps only versions inside the date", "enc", "/R4/Encounter/enc-2024/_history", 200, "Encounter/enc-2024"},
		{"_include of an Encounter outside the date is dropped", "enc", "/R4/Encounter?_include=Encounter:part-of", 200, "Encounter/enc-2024"},
		// The fake upstream ignores date and _security: the response check
		// alone keeps the answer inside the scope.
		{"search outside the date is withheld", "enc", "/R4/Encounter", 200, "Encounter/enc-2024"},
		{"read outside the date is a 404", "enc", "/R4/Encounter/enc-2023", 404, ""},
		{"read inside the date", "enc", "/R4/Encounter/enc-2024", 200, ""},
		{"repeated _security is AND", "and", "/R4/Observation", 200, "Observation/obs-lab-path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.serve(f.request("GET", tc.target, f.caller, tc.token))
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tc.ids != "" {
				if got := strings.Join(entryIDs(t, w.Body.Bytes()), " "); got != tc.ids {
					t.Fatalf("entries %q, want %q", got, tc.ids)
				}
			}
		})
	}
}
