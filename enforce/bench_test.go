package enforce

import (
	"fmt"
	"strings"
	"testing"
)

func benchFilter(b *testing.B, body []byte, opts FilterOptions) {
	a := testAccess(b)
	if _, _, err := a.FilterBundle(body, opts); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, _, err := a.FilterBundle(body, opts); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(len(body))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkFilterBundle: ~2 MB searchset, 900 entries, about 7% withheld.
func BenchmarkFilterBundle(b *testing.B) {
	benchFilter(b, benchBundle(900, 1), FilterOptions{AnnotateWithheld: true})
}

// BenchmarkFilterBundleClean: nothing withheld, links already public: the
// body is returned as is, without a copy.
func BenchmarkFilterBundleClean(b *testing.B) {
	benchFilter(b, cleanBenchBundle(), FilterOptions{})
}

func BenchmarkCheckResource(b *testing.B) {
	body := []byte(`{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests", "measurements") +
		`,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/a"},"performer":[{"reference":"Practitioner/p1"}],"valueQuantity":{"value":13.5,"unit":"g/dL"}}`)
	a := testAccess(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if v, err := a.CheckResource(body); err != nil || !v.Allowed {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkAppendFilterBundle: the same work with a reused output buffer,
// as a handler with a buffer pool would do it.
func BenchmarkAppendFilterBundle(b *testing.B) {
	body := benchBundle(900, 1)
	a := testAccess(b)
	opts := FilterOptions{AnnotateWithheld: true}
	buf, _, err := a.AppendFilterBundle(nil, body, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if buf, _, err = a.AppendFilterBundle(buf[:0], body, opts); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(len(body))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkFilterBundleRules: BenchmarkFilterBundle with every grant a rule
// with token and date constraints and historical_depth (facts are read).
func BenchmarkFilterBundleRules(b *testing.B) {
	body := benchBundle(900, 1)
	a := ruleAccessLike(b)
	opts := FilterOptions{AnnotateWithheld: true, NarrowedType: "Observation"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.FilterBundle(body, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// stubSearchset is the searchset of cmd/bench-e2e's FHIR stub: n
// Observations of about 2.2 KB each, all of the patient and granted,
// keys sorted after resourceType as encoding/json writes them, no
// Bundle.link, fullUrl under the upstream base.
func stubSearchset(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"entry":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"%s/Observation/obs-%d","resource":{"resourceType":"Observation","category":[{"coding":[{"code":"laboratory","display":"Laboratory","system":"http://terminology.hl7.org/CodeSystem/observation-category"}]}],"code":{"coding":[{"code":"718-7","display":"Hemoglobin [Mass/volume] in Blood","system":"http://loinc.org"}],"text":"Hemoglobin"},"effectiveDateTime":"2025-03-01T09:30:00+02:00","id":"obs-%d","interpretation":[{"coding":[{"code":"N","display":"Normal","system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"}]}],"issued":"2025-03-01T11:00:00+02:00","meta":{"lastUpdated":"2025-03-01T10:00:00Z","profile":["http://fhir.health.gov.il/StructureDefinition/il-hdp-observation-lab"],"security":[{"code":"laboratoryTests","system":"%s"}],"versionId":"1"},"note":[{"text":"Sample drawn at the community clinic; analysed at the central laboratory."}],"performer":[{"display":"HMO B central laboratory","reference":"Organization/hmo-b-lab"}],"referenceRange":[{"high":{"code":"g/dL","system":"http://unitsofmeasure.org","unit":"g/dL","value":16},"low":{"code":"g/dL","system":"http://unitsofmeasure.org","unit":"g/dL","value":12},"text":"12.0-16.0 g/dL"}],"status":"final","subject":{"reference":"Patient/%s"},"valueQuantity":{"code":"g/dL","system":"http://unitsofmeasure.org","unit":"g/dL","value":13.%d}},"search":{"mode":"match"}}`,
			testUpstream, i, i, HDPBucketSystem, ownID, i%10)
	}
	fmt.Fprintf(&b, `],"resourceType":"Bundle","total":%d,"type":"searchset"}`, n)
	return []byte(b.String())
}

// BenchmarkFilterStubSearchset: the e2e benchmark's big search (issue
// #13), with the page link rewrite the PEP asks for.
func BenchmarkFilterStubSearchset(b *testing.B) {
	self := []byte(`[{"relation":"self","url":"` + testPublic + `/Observation?code=718-7"}]`)
	benchFilter(b, stubSearchset(900), FilterOptions{AnnotateWithheld: true, NarrowedType: "Observation",
		Links: func([]byte) ([]byte, error) { return self, nil }})
}

// BenchmarkScannerSkip is the floor under BenchmarkFilterStubSearchset:
// the strict scanner alone (grammar, UTF-8, depth, duplicate keys) over
// the same body, with no check of what it reads.
func BenchmarkScannerSkip(b *testing.B) {
	body := stubSearchset(900)
	var s scanner
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		s.reset(body, DefaultMaxDepth)
		if err := s.skipValue(); err != nil || !s.atEnd() {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(len(body))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkFilterStubSearchsetInto is BenchmarkFilterStubSearchset into a
// reused buffer, as the PEP runs it (the capture's pooled output).
func BenchmarkFilterStubSearchsetInto(b *testing.B) {
	body := stubSearchset(900)
	a := testAccess(b)
	self := []byte(`[{"relation":"self","url":"` + testPublic + `/Observation?code=718-7"}]`)
	opts := FilterOptions{AnnotateWithheld: true, NarrowedType: "Observation", Links: func([]byte) ([]byte, error) { return self, nil }}
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, _, err := a.FilterBundleInto(dst, body, opts); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(len(body))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}
