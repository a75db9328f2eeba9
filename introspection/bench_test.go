package introspection

import (
	"context"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/testclock"
)

// warmCache returns a cache holding an active answer for "tok".
func warmCache(b testing.TB) (*Cache, *Claims, *testclock.Clock) {
	b.Helper()
	clock := newFakeClock()
	claims := claimsExpiring(b, clock.Now().Add(time.Hour), testThumbprint)
	u := &fakeUpstream{}
	u.set("tok", claims)
	c := newTestCache(b, u, clock, nil)
	for {
		_, hit, err := c.Introspect(context.Background(), "tok")
		if err != nil {
			b.Fatal(err)
		}
		if hit {
			return c, claims, clock
		}
		c.Wait()
	}
}

func BenchmarkIntrospectCacheHit(b *testing.B) {
	c, _, _ := warmCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, hit, err := c.Introspect(ctx, "tok"); err != nil || !hit {
			b.Fatalf("hit %v err %v", hit, err)
		}
	}
}

func BenchmarkIntrospectCacheHitParallel(b *testing.B) {
	c, _, _ := warmCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, hit, err := c.Introspect(ctx, "tok"); err != nil || !hit {
				b.Errorf("hit %v err %v", hit, err)
				return
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	claims := validClaims()
	exp := validExpectations()
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(claims, exp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntrospectCacheHitAndValidate is the per-request cost of the
// token gate when PCM is not called.
func BenchmarkIntrospectCacheHitAndValidate(b *testing.B) {
	c, _, clock := warmCache(b)
	ctx := context.Background()
	exp := Expectations{Issuer: testIssuer, Resource: testAudience, Thumbprint: testThumbprint, Now: clock.Now(), Skew: 5 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		claims, hit, err := c.Introspect(ctx, "tok")
		if err != nil || !hit {
			b.Fatalf("hit %v err %v", hit, err)
		}
		if err := Validate(claims, exp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeClaims(b *testing.B) {
	body := claimsJSON(b, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeClaims(body); err != nil {
			b.Fatal(err)
		}
	}
}

// A cache hit allocates only the lookup key (ristretto takes it as a
// string): nothing of the miss path may leak onto it again.
func TestIntrospectCacheHitAllocations(t *testing.T) {
	c, _, _ := warmCache(t)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if _, hit, err := c.Introspect(ctx, "tok"); err != nil || !hit {
			t.Fatalf("hit %v err %v", hit, err)
		}
	})
	if allocs > 1 {
		t.Fatalf("a cache hit makes %v allocations, want at most 1", allocs)
	}
}
