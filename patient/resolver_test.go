package patient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/testclock"
)

const sys = "http://fhir.health.gov.il/identifier/il-national-id"

func patientJSON(id, system, value string) string {
	return fmt.Sprintf(`{"resource":{"resourceType":"Patient","id":%q,"identifier":[{"system":%q,"value":%q}]}}`, id, system, value)
}

func TestMatchingIDs(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"one match", `{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "000000018") + `]}`, []string{"p1"}, false},
		{"no match", `{"resourceType":"Bundle","entry":[]}`, []string{}, false},
		{"no entry field", `{"resourceType":"Bundle"}`, []string{}, false},
		{"upstream ignored identifier", `{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "000000018") + `,` + patientJSON("p2", sys, "000000026") + `]}`, []string{"p1"}, false},
		{"other system same value", `{"resourceType":"Bundle","entry":[` + patientJSON("p1", "urn:other", "000000018") + `]}`, []string{}, false},
		{"two records, sorted, deduplicated", `{"resourceType":"Bundle","entry":[` + patientJSON("p9", sys, "000000018") + `,` + patientJSON("p1", sys, "000000018") + `,` + patientJSON("p1", sys, "000000018") + `]}`, []string{"p1", "p9"}, false},
		{"non-patient entries ignored", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","identifier":[{"system":"` + sys + `","value":"000000018"}]}}]}`, []string{}, false},
		{"next page", `{"resourceType":"Bundle","link":[{"relation":"next","url":"x"}],"entry":[` + patientJSON("p1", sys, "000000018") + `]}`, nil, true},
		{"not a bundle", `{"resourceType":"Patient","id":"p1"}`, nil, true},
		{"garbage", `<html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matchingIDs([]byte(tt.body), sys, "000000018")
			if tt.wantErr {
				if !errors.Is(err, ErrLookupFailed) {
					t.Fatalf("want ErrLookupFailed, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResolverCachesAndExpires(t *testing.T) {
	clock := testclock.New(time.Unix(1_800_000_000, 0))
	var calls atomic.Int32
	body := `{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "000000018") + `]}`
	r := NewResolver(Config{Now: clock.Now, TTL: time.Minute, NegativeTTL: 10 * time.Second})
	fetch := Fetcher(func(_ context.Context, q string) (int, []byte, error) {
		calls.Add(1)
		v, err := url.ParseQuery(q)
		if err != nil || v.Get("identifier") == "" {
			return 400, nil, nil
		}
		if v.Get("identifier") == sys+"|000000018" {
			return 200, []byte(body), nil
		}
		return 200, []byte(`{"resourceType":"Bundle"}`), nil
	})
	ctx := context.Background()
	for range 3 {
		ids, err := r.Resolve(ctx, fetch, sys, "000000018")
		if err != nil || len(ids) != 1 || ids[0] != "p1" {
			t.Fatalf("ids=%v err=%v", ids, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("want 1 upstream call, got %d", calls.Load())
	}
	clock.Advance(61 * time.Second)
	if _, err := r.Resolve(ctx, fetch, sys, "000000018"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("want a refetch after TTL, got %d calls", calls.Load())
	}
	// Negative results use the shorter TTL.
	ids, err := r.Resolve(ctx, fetch, sys, "000000026")
	if err != nil || len(ids) != 0 {
		t.Fatalf("ids=%v err=%v", ids, err)
	}
	clock.Advance(5 * time.Second)
	_, _ = r.Resolve(ctx, fetch, sys, "000000026")
	if calls.Load() != 3 {
		t.Fatalf("negative result should be cached, calls=%d", calls.Load())
	}
	clock.Advance(6 * time.Second)
	_, _ = r.Resolve(ctx, fetch, sys, "000000026")
	if calls.Load() != 4 {
		t.Fatalf("negative result should expire after 10s, calls=%d", calls.Load())
	}
}

func TestResolverErrorsAreNotCached(t *testing.T) {
	var calls atomic.Int32
	fail := true
	r := NewResolver(Config{})
	fetch := Fetcher(func(context.Context, string) (int, []byte, error) {
		calls.Add(1)
		if fail {
			return 503, nil, nil
		}
		return 200, []byte(`{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "1") + `]}`), nil
	})
	if _, err := r.Resolve(context.Background(), fetch, sys, "1"); !errors.Is(err, ErrLookupFailed) {
		t.Fatalf("want ErrLookupFailed, got %v", err)
	}
	fail = false
	ids, err := r.Resolve(context.Background(), fetch, sys, "1")
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids=%v err=%v", ids, err)
	}
	if _, err := r.Resolve(context.Background(), fetch, "", "1"); !errors.Is(err, ErrLookupFailed) {
		t.Fatalf("empty system must fail, got %v", err)
	}
	refused := Fetcher(func(context.Context, string) (int, []byte, error) {
		return 0, nil, errors.New("dial refused")
	})
	if _, err := NewResolver(Config{}).Resolve(context.Background(), refused, sys, "1"); !errors.Is(err, ErrLookupFailed) {
		t.Fatalf("transport error must fail, got %v", err)
	}
}

func TestResolverSingleflight(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	r := NewResolver(Config{})
	fetch := Fetcher(func(context.Context, string) (int, []byte, error) {
		calls.Add(1)
		<-release
		return 200, []byte(`{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "1") + `]}`), nil
	})
	var wg sync.WaitGroup
	started := make(chan struct{}, 100)
	for range 100 {
		wg.Go(func() {
			started <- struct{}{}
			if ids, err := r.Resolve(context.Background(), fetch, sys, "1"); err != nil || len(ids) != 1 {
				t.Errorf("ids=%v err=%v", ids, err)
			}
		})
	}
	for range 100 {
		<-started
	}
	// Let the goroutines reach the singleflight group before releasing.
	for calls.Load() == 0 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if calls.Load() > 2 {
		t.Fatalf("want the lookups to share one upstream call, got %d", calls.Load())
	}
}

func TestResolverBoundedCache(t *testing.T) {
	r := NewResolver(Config{MaxEntries: 3})
	empty := Fetcher(func(context.Context, string) (int, []byte, error) {
		return 200, []byte(`{"resourceType":"Bundle"}`), nil
	})
	for i := range 10 {
		if _, err := r.Resolve(context.Background(), empty, sys, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	n := len(r.entries)
	r.mu.Unlock()
	if n > 3 {
		t.Fatalf("cache grew to %d entries", n)
	}
}

func FuzzMatchingIDs(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Bundle","entry":[` + patientJSON("p1", sys, "1") + `]}`))
	f.Add([]byte(`{"resourceType":"Bundle","link":[{"relation":"next"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := matchingIDs(body, sys, "1")
		if err != nil {
			return
		}
		for _, id := range ids {
			if id == "" {
				t.Fatal("empty id accepted")
			}
		}
	})
}
