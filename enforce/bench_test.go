package enforce

import "testing"

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
