package fhir

import (
	"net/http"
	"testing"
)

func BenchmarkParseRequest(b *testing.B) {
	cases := []struct {
		name, method, path, query string
		header                    http.Header
		body                      []byte
	}{
		{"search-type", "GET", "/Observation", "category=laboratory&date=ge2024-01-01", nil, nil},
		{"search-token", "GET", "/Observation",
			"patient=Patient/patient-with-israeli-id&code=http%3A%2F%2Floinc.org%7C718-7&_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests&_count=50",
			http.Header{"Accept": {"application/fhir+json"}}, nil},
		{"read", "GET", "/Patient/patient-with-israeli-id", "", http.Header{"Accept": {"application/fhir+json"}}, nil},
		{"compartment", "GET", "/Patient/p1/Condition", "clinical-status=active", nil, nil},
		{"post-search", "POST", "/Observation/_search", "", http.Header{"Content-Type": {formCT}},
			[]byte("patient=Patient/p1&category=laboratory&date=ge2024-01-01")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseRequest(c.method, c.path, c.query, c.header, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCanonicalQuery(b *testing.B) {
	r, err := ParseRequest("GET", "/Observation", "category=laboratory&date=ge2024-01-01", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.AddParam("patient", "Patient/p1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.CanonicalQuery()
	}
}
