package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Bench data: one patient, Observations in the laboratory bucket that the
// bench token grants, so every request of the measured rounds is allowed
// and every resource passes the response check.
const (
	benchNationalID  = "000000018"
	nationalIDSystem = "http://fhir.health.gov.il/identifier/il-national-id"
	benchPatientID   = "bench-p1"
	bucketSystem     = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	bucketCode       = "laboratoryTests"
	benchScope       = "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests patient/Patient.rs"
)

// stub is a fast in-memory FHIR server: every answer is precomputed, so
// the bench measures the proxies, not the upstream.
type stub struct {
	base     string // /fhir/R4
	patient  []byte // searchset with the patient (identifier lookups)
	readBody []byte // Observation/obs-1 (about 1 KB)
	readSet  []byte // searchset with obs-1 only (a read sent as a search)
	bigSet   []byte // searchset of bigCount Observations (about 2 MB)
	bigCount int
}

func newStub(base string, bigCount int) (*stub, error) {
	s := &stub{base: base, bigCount: bigCount}
	var err error
	if s.patient, err = marshal(searchset([]any{patientResource()})); err != nil {
		return nil, err
	}
	if s.readBody, err = marshal(observation(1)); err != nil {
		return nil, err
	}
	if s.readSet, err = marshal(searchset([]any{observation(1)})); err != nil {
		return nil, err
	}
	obs := make([]any, bigCount)
	for i := range obs {
		obs[i] = withNarrative(observation(i + 1))
	}
	if s.bigSet, err = marshal(searchset(obs)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *stub) serve(ln net.Listener) *http.Server {
	srv := &http.Server{Handler: s}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return srv
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, s.base)
	if r.Method == http.MethodPost && r.ParseForm() != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.Form
	}
	switch {
	case path == "/Patient" || path == "/Patient/_search":
		s.write(w, s.patient)
	case path == "/Patient/"+benchPatientID:
		body, _ := marshal(patientResource())
		s.write(w, body)
	case strings.HasPrefix(path, "/Observation/"):
		s.write(w, s.readBody)
	case path == "/Observation" || path == "/Observation/_search":
		if q.Get("_id") != "" {
			s.write(w, s.readSet)
			return
		}
		s.write(w, s.bigSet)
	default:
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`)
	}
}

func (s *stub) write(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/fhir+json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body) //nolint:errcheck // the client may go away
}

func searchset(resources []any) resource {
	entries := make([]any, len(resources))
	for i, r := range resources {
		m := r.(resource)
		entries[i] = map[string]any{
			"fullUrl":  "http://upstream.invalid/fhir/R4/" + m["resourceType"].(string) + "/" + m["id"].(string),
			"resource": r,
			"search":   map[string]any{"mode": "match"},
		}
	}
	return resource{"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}
}

func patientResource() resource {
	return resource{
		"resourceType": "Patient",
		"id":           benchPatientID,
		"identifier":   []any{map[string]any{"system": nationalIDSystem, "value": benchNationalID}},
		"active":       true,
		"gender":       "female",
		"birthDate":    "1980-04-01",
	}
}

// observation is a laboratory result of about 1 KB, shaped like the HDP
// IG's hemoglobin example.
func observation(n int) resource {
	return resource{
		"resourceType": "Observation",
		"id":           fmt.Sprintf("obs-%d", n),
		"meta": map[string]any{
			"versionId":   "1",
			"lastUpdated": "2025-03-01T10:00:00Z",
			"profile":     []any{"http://fhir.health.gov.il/StructureDefinition/il-hdp-observation-lab"},
			"security":    []any{map[string]any{"system": bucketSystem, "code": bucketCode}},
		},
		"status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory",
		}}}},
		"code": map[string]any{"coding": []any{map[string]any{
			"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin [Mass/volume] in Blood",
		}}, "text": "Hemoglobin"},
		"subject":           map[string]any{"reference": "Patient/" + benchPatientID},
		"effectiveDateTime": "2025-03-01T09:30:00+02:00",
		"issued":            "2025-03-01T11:00:00+02:00",
		"performer":         []any{map[string]any{"reference": "Organization/hmo-b-lab", "display": "HMO B central laboratory"}},
		"valueQuantity": map[string]any{
			"value": 13.2 + float64(n%10)/10, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL",
		},
		"interpretation": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "N", "display": "Normal",
		}}}},
		"referenceRange": []any{map[string]any{
			"low":  map[string]any{"value": 12.0, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
			"high": map[string]any{"value": 16.0, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
			"text": "12.0-16.0 g/dL",
		}},
		"note": []any{map[string]any{"text": "Sample drawn at the community clinic; analysed at the central laboratory."}},
	}
}

// withNarrative adds the generated narrative (text.div) servers such as
// HAPI write into stored resources and the IG examples carry: with it the
// 900 Observations of the search make the 2 MB issue #13 names (about
// 1.3 MB without).
func withNarrative(r resource) resource {
	r["text"] = map[string]any{
		"status": "generated",
		"div": `<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Generated Narrative: Observation</b></p>` +
			`<p><b>status</b>: final</p><p><b>category</b>: Laboratory</p>` +
			`<p><b>code</b>: Hemoglobin [Mass/volume] in Blood <span>(LOINC#718-7)</span></p>` +
			`<p><b>subject</b>: <a href="Patient/` + benchPatientID + `">Patient/` + benchPatientID + `</a></p>` +
			`<p><b>effective</b>: 2025-03-01 09:30:00+0200</p><p><b>issued</b>: 2025-03-01 11:00:00+0200</p>` +
			`<p><b>performer</b>: <a href="Organization/hmo-b-lab">HMO B central laboratory</a></p>` +
			`<p><b>value</b>: ` + fmt.Sprint(r["valueQuantity"].(map[string]any)["value"]) + ` g/dL</p>` +
			`<p><b>interpretation</b>: Normal</p>` +
			`<h3>ReferenceRanges</h3><table class="grid"><tr><td>-</td><td><b>Low</b></td><td><b>High</b></td><td><b>Text</b></td></tr>` +
			`<tr><td>*</td><td>12.0 g/dL</td><td>16.0 g/dL</td><td>12.0-16.0 g/dL</td></tr></table>` +
			`<p><b>note</b>: Sample drawn at the community clinic; analysed at the central laboratory.</p></div>`,
	}
	return r
}

// marshal is json.Marshal without HTML escaping: FHIR servers write a
// narrative's "<div>" as is, not as "\u003cdiv\u003e".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// resource is a FHIR resource that marshals with resourceType first and
// the other members in encoding/json's (sorted) order. FHIR servers (HAPI,
// the demo server, the IG examples) write resourceType first; with plain
// sorted maps it came late and made the PEP's check look for it through
// most of every resource, a cost real answers do not have.
type resource map[string]any

func (r resource) MarshalJSON() ([]byte, error) {
	rest := make(map[string]any, len(r))
	for k, v := range r {
		if k != "resourceType" {
			rest[k] = v
		}
	}
	typ, err := marshal(r["resourceType"])
	if err != nil {
		return nil, err
	}
	body, err := marshal(rest)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"resourceType":`), typ...)
	if len(rest) > 0 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}
