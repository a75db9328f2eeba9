package enforce

import (
	"testing"
)

func TestParseDateValue(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi string
		ok     bool
	}{
		{"2024", "2024-01-01", "2024-99-99", true},
		{"2024-03", "2024-03-01", "2024-03-99", true},
		{"2024-03-05", "2024-03-05", "2024-03-05", true},
		{"2024-03-05T23:30:00-05:00", "2024-03-05", "2024-03-05", true},
		{"2024-03-05T10:00:00.123Z", "2024-03-05", "2024-03-05", true},
		{"0000", "", "", false},
		{"2024-13", "", "", false},
		{"2024-00", "", "", false},
		{"2024-01-32", "", "", false},
		{"2024-1-01", "", "", false},
		{"24", "", "", false},
		{"2024-03-05 10:00", "", "", false},
		{"2024-03-05T", "", "", false},
		{"2024-03-05Tab", "", "", false},
		{"２０２４", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		r, ok := parseDateValue([]byte(tc.in))
		if ok != tc.ok || (ok && (string(r.lo[:]) != tc.lo || string(r.hi[:]) != tc.hi)) {
			t.Errorf("%q: %s..%s %v", tc.in, r.lo[:], r.hi[:], ok)
		}
	}
}

func TestDateSearch(t *testing.T) {
	rng := func(lo, hi string) dateRange {
		a, _ := parseDateValue([]byte(lo))
		b, _ := parseDateValue([]byte(hi))
		return dateRange{lo: a.lo, hi: b.hi}
	}
	open := func(lo string) dateRange { r := rng(lo, lo); r.hi = dayMax; return r }
	tests := []struct {
		search string
		target dateRange
		want   bool
	}{
		{"ge2024-01-01", rng("2024-01-01", "2024-01-01"), true},
		{"ge2024-01-01", rng("2023-12-31", "2023-12-31"), false},
		{"ge2024-01-01", rng("2023-12-01", "2024-01-01"), true},
		{"ge2024", rng("2023-12-31", "2023-12-31"), false},
		{"gt2024-01-01", rng("2024-01-01", "2024-01-01"), false},
		{"gt2024-01-01", rng("2024-01-02", "2024-01-02"), true},
		{"gt2024", rng("2024-12-31", "2024-12-31"), false},
		{"le2024-01-01", rng("2024-01-01", "2024-05-01"), true},
		{"le2024-01-01", rng("2024-01-02", "2024-05-01"), false},
		{"lt2024-01-01", rng("2024-01-01", "2024-01-01"), false},
		{"lt2024-01-01", rng("2023-12-31", "2024-01-01"), true},
		{"2024-01", rng("2024-01-05", "2024-01-06"), true},
		{"eq2024-01", rng("2024-01-05", "2024-02-06"), false},
		{"ne2024-01", rng("2024-01-05", "2024-02-06"), true},
		{"ne2024-01", rng("2024-01-05", "2024-01-06"), false},
		{"sa2024", rng("2025-01-01", "2025-01-01"), true},
		{"sa2024", rng("2024-12-31", "2025-01-01"), false},
		{"eb2024", rng("2023-12-31", "2023-12-31"), true},
		{"eb2024", open("2023-12-31"), false},
		{"ge2024-01-01", open("2020-01-01"), true},
	}
	for _, tc := range tests {
		ds, ok := parseDateSearch(tc.search)
		if !ok {
			t.Fatalf("%q refused", tc.search)
		}
		if got := ds.matches(tc.target); got != tc.want {
			t.Errorf("%s on %s..%s = %v", tc.search, tc.target.lo[:], tc.target.hi[:], got)
		}
	}
	for _, bad := range []string{"ap2024", "xx2024", "ge2024-01-01T00:00:00Z", "ge", "ge2024-1", "2024-01-01T10:00"} {
		if _, ok := parseDateSearch(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024", "2024-03-05", "2024-03-05T10:00:00Z", "ge2024-01", "sa2024-02-30", "0001-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, ok := parseDateValue([]byte(s)); ok && r.hi.less(r.lo) {
			t.Fatalf("%q: hi before lo", s)
		}
		ds, ok := parseDateSearch(s)
		if !ok {
			return
		}
		// A search value always selects its own range (eq), and ne never does.
		if !ds.rng.lo.less(ds.rng.hi) && ds.rng.lo != ds.rng.hi {
			t.Fatalf("%q: empty range", s)
		}
		eq := dateSearch{prefix: "eq", rng: ds.rng}
		ne := dateSearch{prefix: "ne", rng: ds.rng}
		if !eq.matches(ds.rng) || ne.matches(ds.rng) {
			t.Fatalf("%q: eq/ne on its own range", s)
		}
	})
}
