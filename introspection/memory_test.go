package introspection

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkCacheMemoryPerEntry measures the heap that cached answers
// hold (issue #13 budget: 50 MB per 100,000, about 524 bytes each): a
// realistic PCM answer (scopes with constraints, fhirContext, baskets,
// cnf), each with its own jti, patient, consent and thumbprint, inserted
// through Introspect and made visible with Wait; heap measured with
// runtime.ReadMemStats after GC. Reported as bytes/entry and MB/100k.
//
//	go test -run '^$' -bench CacheMemoryPerEntry -benchtime 1x ./introspection/
func BenchmarkCacheMemoryPerEntry(b *testing.B) {
	const n = 20_000
	var perEntry, costPerEntry float64
	for b.Loop() {
		perEntry, costPerEntry = cacheHeapPerEntry(b, n, nil)
	}
	b.ReportMetric(perEntry, "bytes/entry")
	b.ReportMetric(perEntry*100_000/(1<<20), "MB/100k")
	b.ReportMetric(costPerEntry, "cost/entry")
}

// TestCacheCostCoversHeap checks the cost model against the heap: MaxCost
// bounds memory only if an entry costs at least the heap it holds, and it
// fills the cache only if it does not cost much more.
func TestCacheCostCoversHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 5000 cached answers")
	}
	for name, own := range map[string]func(token string, m map[string]any){
		"shared profile": nil,
		// A Consent reference of its own in every answer: no fhirContext
		// is shared.
		"own fhirContext": ownContext,
		// A scope of its own in every answer (and more than the intern
		// table holds): no profile is shared.
		"own profile": func(token string, m map[string]any) {
			m["scope"] = m["scope"].(string) + " patient/Encounter.rs?date=ge" + token
		},
	} {
		t.Run(name, func(t *testing.T) {
			heap, cost := cacheHeapPerEntry(t, 3000, own)
			t.Logf("heap %.0f bytes/entry, cost %.0f", heap, cost)
			limit := 1.25
			if own != nil {
				// Shared pieces are estimated, not measured.
				limit = 2
			}
			if cost < heap || cost > heap*limit {
				t.Fatalf("an entry costs %.0f for %.0f bytes of heap; update the cost model", cost, heap)
			}
		})
	}
}

// BenchmarkCacheMemoryPerEntryOwnContext is BenchmarkCacheMemoryPerEntry
// with a Consent reference of its own in every answer's fhirContext.
func BenchmarkCacheMemoryPerEntryOwnContext(b *testing.B) {
	const n = 20_000
	var perEntry, costPerEntry float64
	for b.Loop() {
		perEntry, costPerEntry = cacheHeapPerEntry(b, n, ownContext)
	}
	b.ReportMetric(perEntry, "bytes/entry")
	b.ReportMetric(perEntry*100_000/(1<<20), "MB/100k")
	b.ReportMetric(costPerEntry, "cost/entry")
}

func ownContext(token string, m map[string]any) {
	m["fhirContext"] = []any{
		map[string]any{"reference": "Consent/" + token, "type": "Consent"},
		map[string]any{"reference": "HealthcareService/hs1", "identifier": map[string]any{"value": "x"}},
	}
}

// cacheHeapPerEntry caches n answers and returns the heap they hold and
// the cost the cache accounts for them, per entry. own, when set, edits
// each answer further.
func cacheHeapPerEntry(t testing.TB, n int, own func(token string, m map[string]any)) (heap, cost float64) {
	clock := newFakeClock()
	exp := clock.Now().Add(time.Hour)
	u := &fakeUpstream{fn: func(_ context.Context, token string) (*Claims, error) {
		return DecodeClaims(claimsJSON(t, func(m map[string]any) {
			m["exp"] = exp.Unix()
			m["jti"] = "jti-" + token
			m["patient"] = "http://fhir.health.gov.il/identifier/il-national-id|" + nationalID(token)
			m["consent_id"] = "PCM-CONSENT-" + token
			sum := sha256.Sum256([]byte(token))
			m["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
			m["baskets"] = []any{
				map[string]any{"code": "laboratoryTests", "system": "http://fhir.health.gov.il/cs/hdp-information-buckets", "historical_depth": "2024-01-01"},
				map[string]any{"code": "encounterInformation", "system": "http://fhir.health.gov.il/cs/hdp-information-buckets"},
			}
			m["access_type"] = "continuous"
			m["sp_organization_id"] = "org-sp-hospital-a"
			if own != nil {
				own(token, m)
			}
		}))
	}}
	// Room for every answer, so nothing is evicted; the cost bound also
	// sizes ristretto's counters, allocated before the measurement starts.
	c := newTestCache(t, u, clock, func(cfg *CacheConfig) { cfg.MaxCost = int64(n) * 16 << 10 })
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("%08d", i+1)
	}
	ctx := context.Background()
	before := heapInUse()
	for _, tok := range tokens {
		if _, _, err := c.Introspect(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	after := heapInUse()
	// Every answer must really be in the cache, or the number means nothing.
	missing := 0
	for _, tok := range tokens {
		if _, hit, _ := c.Introspect(ctx, tok); !hit {
			missing++
		}
	}
	if missing > n/100 {
		t.Fatalf("%d of %d answers not cached; the measurement would undercount", missing, n)
	}
	runtime.KeepAlive(tokens)
	return float64(after-before) / float64(n), float64(c.SizeBytes()) / float64(n)
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// nationalID appends the check digit to eight digits.
func nationalID(eight string) string {
	sum := 0
	for i, r := range eight {
		d := int(r-'0') * (1 + i%2)
		sum += d/10 + d%10
	}
	return eight + string(rune('0'+(10-sum%10)%10))
}
