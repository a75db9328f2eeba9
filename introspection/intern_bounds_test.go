package introspection

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// resetInternTables empties the package's intern tables, so that a test
// measures what it adds.
func resetInternTables() {
	profiles.mu.Lock()
	profiles.m, profiles.bytes = nil, 0
	profiles.mu.Unlock()
	contexts.mu.Lock()
	contexts.m, contexts.bytes = nil, 0
	contexts.mu.Unlock()
	owns.mu.Lock()
	owns.m, owns.bytes = nil, 0
	owns.mu.Unlock()
}

// Lists far longer than any PCM answer has are malformed: a list of many
// tiny values costs far more heap than its JSON bytes.
func TestImplausibleListsAreMalformed(t *testing.T) {
	many := func(n int, v func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = v(i)
		}
		return out
	}
	for name, edit := range map[string]func(map[string]any){
		"aud": func(m map[string]any) { m["aud"] = many(maxAudiences+1, func(i int) any { return fmt.Sprint("a", i) }) },
		"fhirContext": func(m map[string]any) {
			m["fhirContext"] = many(maxContextEntries+1, func(int) any { return map[string]any{} })
		},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeClaims(claimsJSON(t, edit)); !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("err = %v, want malformed", err)
			}
		})
	}
	// At the bound they are accepted.
	if _, err := DecodeClaims(claimsJSON(t, func(m map[string]any) {
		aud := many(maxAudiences-1, func(i int) any { return fmt.Sprint("a", i) })
		m["aud"] = append(aud, testAudience)
		m["fhirContext"] = many(maxContextEntries, func(int) any { return map[string]any{"type": "Practitioner"} })
	})); err != nil {
		t.Fatalf("answer at the bounds: %v", err)
	}
}

// The intern tables hold a bounded number of bytes whatever PCM sends:
// shared members over the key bound are never interned, and the charged
// bytes of each table are capped. Each answer here has its own large
// scope string (as a PCM could send with every token); once no answer is
// alive, the tables must not hold more than their caps.
func TestInternTablesRetainBoundedBytes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, scopes int
	}{
		{"keys over the bound", 200, 2000},  // ~40 KB scope strings
		{"keys under the bound", 3000, 100}, // ~2.8 KB, distinct: the byte cap resets
	} {
		t.Run(tc.name, func(t *testing.T) {
			resetInternTables()
			t.Cleanup(resetInternTables)
			before := heapInUse()
			for i := range tc.n {
				var b strings.Builder
				fmt.Fprintf(&b, "patient/Observation.rs?code=%d", i)
				for j := range tc.scopes {
					fmt.Fprintf(&b, " patient/Condition.rs?code=%d", j)
				}
				data := claimsJSON(t, func(m map[string]any) { m["scope"] = b.String() })
				if len(data) > DefaultIntrospectionMaxBytes {
					t.Fatalf("answer of %d bytes over the PCM body limit", len(data))
				}
				if _, err := DecodeClaims(data); err != nil {
					t.Fatal(err)
				}
			}
			retained := int64(heapInUse()) - int64(before)
			if interned := profiles.len(); tc.scopes < 120 && interned == 0 {
				t.Fatal("nothing interned: the case does not test the byte cap")
			}
			// Three tables of 4 MiB charged each (maxInternedBytes), and the
			// charge errs high; twice that is the outer bound. A literal, so
			// that raising the constant fails here.
			if limit := int64(2 * 3 * 4 << 20); retained > limit {
				t.Fatalf("intern tables retain %d MiB with no answer alive (bound %d MiB)", retained>>20, limit>>20)
			}
			t.Logf("retained %.1f MiB", float64(retained)/(1<<20))
		})
	}
}

// What the cache charges for an answer whose shared members are not
// interned (over the key bound) covers the heap it holds, so max_cost
// bounds the cache for such answers too.
func TestCostCoversHeapOfLargeAnswers(t *testing.T) {
	resetInternTables()
	t.Cleanup(resetInternTables)
	const n = 50
	keep := make([]*Claims, 0, n)
	before := heapInUse()
	cost := 0
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "patient/Observation.rs?code=%d", i)
		for range 3000 {
			b.WriteString(" x") // tiny scopes: the most heap per byte
		}
		c, err := DecodeClaims(claimsJSON(t, func(m map[string]any) {
			m["scope"] = b.String()
			aud := []any{testAudience}
			for j := range maxAudiences - 1 {
				aud = append(aud, fmt.Sprint(j))
			}
			m["aud"] = aud
		}))
		if err != nil {
			t.Fatal(err)
		}
		cost += int(c.ownBytes) + entryOverhead
		keep = append(keep, c)
	}
	heap := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(keep)
	if int64(cost) < heap {
		t.Fatalf("answers cost %d but hold %d bytes of heap: max_cost would not bound the cache", cost, heap)
	}
}

// The table of own values keeps its own copy of a value, never a slice of
// a token's string buffer (which holds the national id, jti and consent
// of a token long gone from the cache).
func TestOwnsTableKeepsNoTokenBuffer(t *testing.T) {
	resetInternTables()
	t.Cleanup(resetInternTables)
	c, err := DecodeClaims(claimsJSON(t, func(m map[string]any) {
		m["jti"] = "jti-unique-1"
		m["fhirContext"] = []any{map[string]any{"reference": "Consent/only-this-token", "type": "Consent"}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(c.JTI)))
	end := start + uintptr(len(c.JTI)+len(c.PatientValue)+len(c.ConsentID)+len(c.Confirmation.X5tS256))
	owns.mu.Lock()
	defer owns.mu.Unlock()
	found := false
	for k, v := range owns.m {
		for _, s := range []string{k, *v} {
			if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); len(s) > 0 && p >= start && p < end {
				t.Fatalf("the owns table keeps a slice of the token's buffer")
			}
		}
		found = found || strings.Contains(k, "only-this-token")
	}
	if !found {
		t.Fatal("own value not in the table: the test checks nothing")
	}
	runtime.KeepAlive(c)
}
