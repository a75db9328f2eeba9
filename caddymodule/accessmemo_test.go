package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/policy"
)

func memoResponse() policy.Response {
	return policy.Response{
		Types: map[string][]string{"Observation": {"sys|lab"}, "Patient": {"sys|demo"}},
		Rules: []policy.ResponseRule{
			{Type: "Observation", Buckets: []string{"sys|lab"}, Constraints: []policy.SearchParam{{Name: "category", Value: "laboratory"}}, Narrowed: true},
			{Type: "Patient", Buckets: []string{"sys|demo"}},
		},
		Depths: map[string]string{"sys|lab": "2024-01-01"},
	}
}

// Every field of the obligation and the ids is part of the memo's key: a
// change anywhere is a different Access.
func TestAccessMemoKeysOnEveryField(t *testing.T) {
	edits := map[string]func(*policy.Response, *[]string){
		"ids":             func(_ *policy.Response, ids *[]string) { *ids = []string{"p2"} },
		"extra id":        func(_ *policy.Response, ids *[]string) { *ids = append(*ids, "p2") },
		"rule type":       func(r *policy.Response, _ *[]string) { r.Rules[1].Type = "Condition" },
		"rule bucket":     func(r *policy.Response, _ *[]string) { r.Rules[0].Buckets = []string{"sys|imaging"} },
		"rule constraint": func(r *policy.Response, _ *[]string) { r.Rules[0].Constraints[0].Value = "vital-signs" },
		"constraint name": func(r *policy.Response, _ *[]string) { r.Rules[0].Constraints[0].Name = "code" },
		"extra constraint": func(r *policy.Response, _ *[]string) {
			r.Rules[1].Constraints = []policy.SearchParam{{Name: "date", Value: "ge2020"}}
		},
		"narrowed":     func(r *policy.Response, _ *[]string) { r.Rules[0].Narrowed = false },
		"rule order":   func(r *policy.Response, _ *[]string) { r.Rules[0], r.Rules[1] = r.Rules[1], r.Rules[0] },
		"fewer rules":  func(r *policy.Response, _ *[]string) { r.Rules = r.Rules[:1] },
		"type buckets": func(r *policy.Response, _ *[]string) { r.Types["Observation"] = []string{"sys|other"} },
		"type key": func(r *policy.Response, _ *[]string) {
			r.Types["Condition"] = r.Types["Patient"]
			delete(r.Types, "Patient")
		},
		"depth date":   func(r *policy.Response, _ *[]string) { r.Depths["sys|lab"] = "2025-01-01" },
		"depth bucket": func(r *policy.Response, _ *[]string) { r.Depths = map[string]string{"sys|demo": "2024-01-01"} },
		"no depths":    func(r *policy.Response, _ *[]string) { r.Depths = nil },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			m := newAccessMemo()
			builds := 0
			build := func() (*enforce.Access, error) { builds++; return new(enforce.Access), nil }
			base, ids := memoResponse(), []string{"p1"}
			a1, _ := m.get(base, ids, build)
			other, otherIDs := memoResponse(), []string{"p1"}
			edit(&other, &otherIDs)
			a2, _ := m.get(other, otherIDs, build)
			if a1 == a2 || builds != 2 {
				t.Fatalf("changed %s: same Access (builds %d)", name, builds)
			}
			if sameResponse(base, other) && fmt.Sprint(ids) == fmt.Sprint(otherIDs) {
				t.Fatalf("sameResponse misses the %s change", name)
			}
			// The original is still found, and so is the changed one.
			if a, _ := m.get(memoResponse(), []string{"p1"}, build); a != a1 || builds != 2 {
				t.Fatalf("original not found again (builds %d)", builds)
			}
		})
	}
}

// An equal obligation hits, whatever the maps' order and wherever its
// slices live; the memo keeps its own copy of the key.
func TestAccessMemoHitsAndCopies(t *testing.T) {
	m := newAccessMemo()
	builds := 0
	build := func() (*enforce.Access, error) { builds++; return new(enforce.Access), nil }
	resp := memoResponse()
	a1, _ := m.get(resp, []string{"p1"}, build)
	resp.Rules[0].Buckets[0] = "sys|imaging" // the caller reuses its value
	resp.Types["Observation"][0] = "sys|imaging"
	for range 20 {
		if a, _ := m.get(memoResponse(), []string{"p1"}, build); a != a1 {
			t.Fatal("equal obligation missed")
		}
	}
	if builds != 1 {
		t.Fatalf("builds = %d, want 1", builds)
	}
	if a, _ := m.get(resp, []string{"p1"}, build); a == a1 {
		t.Fatal("the caller's later edit reached the memo's key")
	}
}

func TestAccessMemoBoundedAndErrorsNotKept(t *testing.T) {
	m := newAccessMemo()
	fail := errors.New("bad bucket")
	if _, err := m.get(memoResponse(), []string{"p1"}, func() (*enforce.Access, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("err = %v", err)
	}
	if m.n != 0 {
		t.Fatalf("a failed build was memoised")
	}
	for i := range accessMemoMax + 10 {
		if _, err := m.get(memoResponse(), []string{fmt.Sprintf("p%d", i)}, func() (*enforce.Access, error) { return new(enforce.Access), nil }); err != nil {
			t.Fatal(err)
		}
		if m.n > accessMemoMax {
			t.Fatalf("memo holds %d entries, bound %d", m.n, accessMemoMax)
		}
	}
}

func TestAccessMemoConcurrent(t *testing.T) {
	m := newAccessMemo()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ids := []string{fmt.Sprintf("p%d", (g+i)%5)}
				a, err := m.get(memoResponse(), ids, func() (*enforce.Access, error) { return new(enforce.Access), nil })
				if err != nil || a == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// One memoised Access serves concurrent requests: the response check must
// not write into it (run with -race).
func TestSharedAccessUnderConcurrentReads(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, f.clock.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation/obs-lab", f.caller, "lab")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, target := range []string{"/R4/Observation/obs-lab", "/R4/Observation", "/R4/Observation/obs-imaging"} {
				w := httptestRecorderServe(f, f.request("GET", target, f.caller, "lab"))
				if w.Code != 200 && w.Code != 404 {
					t.Errorf("%s: status %d", target, w.Code)
				}
			}
		}()
	}
	wg.Wait()
	if f.pep.accesses.n == 0 {
		t.Fatal("no Access was memoised")
	}
}

// httptestRecorderServe is f.serve without the fixture's bookkeeping, for
// concurrent use.
func httptestRecorderServe(f *gateFixture, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	if err := f.pep.ServeHTTP(w, r, proxyTo(f.fhir.srv.URL)); err != nil {
		w.Code = -1
	}
	return w
}

// bigResponse is an obligation whose scopes carry large constraints, as a
// PCM issuing long scopes would produce: about 2 x 160 KiB charged.
func bigResponse(tag string) policy.Response {
	r := memoResponse()
	for i := range 10 {
		r.Rules[0].Constraints = append(r.Rules[0].Constraints, policy.SearchParam{
			Name: "code", Value: fmt.Sprintf("%s-%d-%s", tag, i, strings.Repeat("x", 16<<10)),
		})
	}
	return r
}

// The memo is bounded by bytes too: obligations with big scopes evict
// long before the entry count is reached, and what it holds (recomputed
// from its entries) never exceeds the byte bound.
func TestAccessMemoBoundedByBytes(t *testing.T) {
	m := newAccessMemo()
	build := func() (*enforce.Access, error) { return new(enforce.Access), nil }
	charge := accessCharge(bigResponse("r0"), []string{"p1"})
	if charge < 2*160<<10 {
		t.Fatalf("charge %d does not count the constraints twice", charge)
	}
	for i := range 3 * accessMemoMaxBytes / charge {
		if _, err := m.get(bigResponse(fmt.Sprintf("r%d", i)), []string{"p1"}, build); err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, list := range m.entries {
			for _, e := range list {
				held += accessCharge(e.resp, e.ids)
			}
		}
		if held > accessMemoMaxBytes || held != m.bytes {
			t.Fatalf("after %d inserts the memo holds %d bytes (accounted %d), bound %d", i+1, held, m.bytes, accessMemoMaxBytes)
		}
	}
	if m.n >= accessMemoMax {
		t.Fatalf("the entry count (%d) bounded the memo, not the bytes", m.n)
	}
}

// An obligation charged more than the whole memo is built and used, but
// not kept (it would evict everything else for one entry).
func TestAccessMemoSkipsOversizeEntries(t *testing.T) {
	m := newAccessMemo()
	m.maxBytes = accessCharge(bigResponse("r"), []string{"p1"}) - 1
	builds := 0
	build := func() (*enforce.Access, error) { builds++; return new(enforce.Access), nil }
	for range 2 {
		if a, err := m.get(bigResponse("r"), []string{"p1"}, build); err != nil || a == nil {
			t.Fatalf("access %v, err %v", a, err)
		}
	}
	if builds != 2 || m.n != 0 || m.bytes != 0 {
		t.Fatalf("builds %d, entries %d, bytes %d: an oversize entry was kept", builds, m.n, m.bytes)
	}
}

// The charge covers what a real Access built from the obligation holds:
// measured on the heap over many builds of a big obligation.
func TestAccessChargeCoversTheAccess(t *testing.T) {
	p := newGateFixture(t).pep
	shapes := map[string]func(tag string) policy.Response{
		"big constraints": bigResponse,
		"many short rules": func(tag string) policy.Response {
			r := policy.Response{}
			for j := range 200 {
				r.Rules = append(r.Rules, policy.ResponseRule{Type: "Observation", Buckets: []string{fmt.Sprintf("s|%d", j)},
					Constraints: []policy.SearchParam{{Name: "category", Value: tag}}})
			}
			return r
		},
		"many buckets": func(tag string) policy.Response {
			r := policy.Response{Rules: []policy.ResponseRule{{Type: "Observation"}}}
			for j := range 1000 {
				r.Rules[0].Buckets = append(r.Rules[0].Buckets, fmt.Sprintf("s|%s_%d", tag, j))
			}
			return r
		},
		"many short constraints": func(tag string) policy.Response {
			r := policy.Response{Rules: []policy.ResponseRule{{Type: "Observation"}}}
			for j := range 500 {
				r.Rules[0].Constraints = append(r.Rules[0].Constraints, policy.SearchParam{Name: "code", Value: fmt.Sprintf("%s.%d", tag, j)})
			}
			return r
		},
		"many date constraints": func(tag string) policy.Response {
			r := policy.Response{Rules: []policy.ResponseRule{{Type: "Observation"}}}
			for j := range 500 {
				r.Rules[0].Constraints = append(r.Rules[0].Constraints, policy.SearchParam{Name: "date", Value: fmt.Sprintf("ge%04d", 1000+j)})
			}
			return r
		},
		"many depths": func(tag string) policy.Response {
			r := memoResponse()
			r.Depths = map[string]string{}
			for j := range 500 {
				r.Depths[fmt.Sprintf("%s|b%d", tag, j)] = "2024-01-01"
			}
			return r
		},
	}
	for name, mk := range shapes {
		t.Run(name, func(t *testing.T) {
			const n = 20
			kept := make([]*enforce.Access, 0, n)
			resps := make([]policy.Response, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range n {
				// Measured: the obligation's strings (as the policy
				// returns them), the memo's clone of it and the Access.
				resps[i] = mk(fmt.Sprintf("r%d", i)).Clone()
				a, err := p.buildAccess(resps[i], []string{fmt.Sprintf("p%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				kept = append(kept, a)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perEntry := int(after.HeapAlloc-before.HeapAlloc) / n
			charge := accessCharge(resps[0], []string{"p0"})
			if perEntry > charge {
				t.Fatalf("an Access and its key hold %d bytes, charged %d", perEntry, charge)
			}
			t.Logf("held %d bytes, charged %d (%.2f)", perEntry, charge, float64(perEntry)/float64(charge))
			runtime.KeepAlive(kept)
			runtime.KeepAlive(resps)
		})
	}
}
