package enforce

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/internal/linksplice"
	"github.com/hdp-il/fhir-pep/paging"
)

// FilterOptions.Links replaced a second pass over the body: the whole-body
// splice (kept frozen in internal/linksplice) validated the body with
// encoding/json, scanned its top level for the link member and spliced the
// rewritten array in,
// and FilterBundle then checked the result. The tests below keep that
// pipeline as the oracle: for every input, the one walk must answer what
// the two passes answered, byte for byte, or refuse where they refused.
// The one divergence allowed is stricter: the upstream's own link array,
// which never leaves, must now pass the strict scanner too (duplicate
// keys, invalid UTF-8) where encoding/json let it through.

// spliceRewriter is one way of rewriting Bundle.link, in both forms.
type spliceRewriter struct {
	name  string
	whole func(body []byte) ([]byte, error) // the old pass over the body
	array func(raw []byte) ([]byte, error)  // FilterOptions.Links
	// normalize maps an output to a comparable form (sealed values carry
	// a random nonce).
	normalize func(out []byte) []byte
}

const spliceSelf = testPublic + "/Observation?code=1"

func spliceRewriters(t testing.TB) []spliceRewriter {
	key, err := paging.ParseKey([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := paging.New(paging.Options{UpstreamBase: testUpstream, PublicBase: testPublic, Current: key})
	if err != nil {
		t.Fatal(err)
	}
	b := paging.Binding{TokenSHA256: sha256.Sum256([]byte("t")), Thumbprint: "x5t", PatientIDs: []string{ownID}}
	const origin = "/Observation?code=1"
	sealed := regexp.MustCompile(`/_page\?p=[A-Za-z0-9_-]+`)
	unseal := func(out []byte) []byte {
		return sealed.ReplaceAllFunc(out, func(m []byte) []byte {
			p, err := s.Open(string(m[len("/_page?p="):]), b)
			if err != nil {
				t.Fatalf("sealed link does not open: %v", err)
			}
			return []byte("/_page?opened=" + base64.RawURLEncoding.EncodeToString([]byte(p.Upstream+"|"+p.Origin)))
		})
	}
	same := func(out []byte) []byte { return out }
	return []spliceRewriter{
		{"self only", func(body []byte) ([]byte, error) {
			return linksplice.Splice(body, func(raw []byte) ([]byte, error) { return paging.SelfOnlyLinkArray(raw, spliceSelf) })
		},
			func(raw []byte) ([]byte, error) { return paging.SelfOnlyLinkArray(raw, spliceSelf) }, same},
		{"no self", func(body []byte) ([]byte, error) {
			return linksplice.Splice(body, func(raw []byte) ([]byte, error) { return paging.SelfOnlyLinkArray(raw, "") })
		},
			func(raw []byte) ([]byte, error) { return paging.SelfOnlyLinkArray(raw, "") }, same},
		{"sealed", func(body []byte) ([]byte, error) {
			return linksplice.Splice(body, func(raw []byte) ([]byte, error) { return s.RewriteLinkArray(raw, spliceSelf, origin, b) })
		},
			func(raw []byte) ([]byte, error) { return s.RewriteLinkArray(raw, spliceSelf, origin, b) }, unseal},
		{"sealed, no self", func(body []byte) ([]byte, error) {
			return linksplice.Splice(body, func(raw []byte) ([]byte, error) { return s.RewriteLinkArray(raw, "", origin, b) })
		},
			func(raw []byte) ([]byte, error) { return s.RewriteLinkArray(raw, "", origin, b) }, unseal},
	}
}

type spliceResult struct {
	out   []byte
	stats Stats
	err   error
}

// twoPasses is the pipeline FilterOptions.Links replaced (caddymodule's
// linkRewritingFetch, then bundle): a body the rewrite found ambiguous
// (linksplice.ErrBundle) went to the check unchanged.
func twoPasses(a *Access, body []byte, rw spliceRewriter, opts FilterOptions) spliceResult {
	in, err := rw.whole(body)
	switch {
	case errors.Is(err, linksplice.ErrBundle):
		in = body
	case err != nil:
		return spliceResult{err: err}
	}
	out, st, err := a.FilterBundle(in, opts)
	return spliceResult{out, st, err}
}

func oneWalk(a *Access, body []byte, rw spliceRewriter, opts FilterOptions) spliceResult {
	opts.Links = rw.array
	out, st, err := a.FilterBundle(body, opts)
	return spliceResult{out, st, err}
}

// strictLinkArray reports whether the upstream's top-level link array (as
// the old top-level scan found it) passes the strict scanner on its own.
func strictLinkArray(a *Access, body []byte) bool {
	raw, ok := oldTopLevelLink(body)
	if !ok {
		return true
	}
	var s scanner
	s.reset(raw, a.e.maxDepth-1)
	return s.skipValue() == nil && s.atEnd()
}

func compareSplice(t *testing.T, a *Access, body []byte, rw spliceRewriter, opts FilterOptions) {
	t.Helper()
	old, got := twoPasses(a, body, rw, opts), oneWalk(a, body, rw, opts)
	switch {
	case old.err != nil && got.err != nil:
		return
	case old.err != nil:
		t.Fatalf("%s: two passes refused (%v), one walk accepted\nin  %s\nout %s", rw.name, old.err, body, got.out)
	case got.err != nil:
		if !strictLinkArray(a, body) {
			return // the stricter check of the upstream's own links
		}
		if errors.Is(got.err, errOddBundleLinks) {
			return // refused now: the old pipeline left the upstream's own links
		}
		t.Fatalf("%s: one walk refused (%v), two passes accepted\nin  %s\nout %s", rw.name, got.err, body, old.out)
	}
	if o, g := rw.normalize(old.out), rw.normalize(got.out); !bytes.Equal(o, g) {
		t.Fatalf("%s: outputs differ\nin  %s\nold %s\nnew %s", rw.name, body, o, g)
	}
	if old.stats != got.stats {
		t.Fatalf("%s: stats differ: old %+v new %+v\nin %s", rw.name, old.stats, got.stats, body)
	}
}

// spliceSeeds are layouts of the link member the old splice handled
// case by case, plus what must stay refused.
var spliceSeeds = []string{
	// link before, after, without entries; white space kept
	`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"` + testUpstream + `/Observation?x=1"},{"relation":"next","url":"` + testUpstream + `?_getpages=1"}],"entry":[{"resource":{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}},"link":[{"relation":"self","url":"x"}]}]}`,
	"{\n \"resourceType\": \"Bundle\",\n \"type\": \"searchset\",\n \"total\": 0,\n \"link\": [{\"relation\":\"next\",\"url\":\"" + testUpstream + "?p=2\"}]\n}",
	`{"entry":[{"resource":{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}}],"resourceType":"Bundle","total":1,"type":"searchset"}`,
	`{"resourceType":"Bundle","type":"searchset"}`,
	` { "type":"searchset" , "resourceType":"Bundle" } `,
	`{"total":1,"resourceType":"Bundle","type":"searchset"}`,
	// nothing left of the links: member removed, first, middle, last
	`{"link":[{"relation":"next","url":"https://evil.example/x"}], "resourceType":"Bundle","type":"history"}`,
	`{"resourceType":"Bundle","link":[],"type":"searchset"}`,
	`{"resourceType":"Bundle","type":"collection" , "link":[]}`,
	// keys and values the old scan treated as ambiguous or not a Bundle
	`{"resourceType":"Bundle","type":"searchset","Link":[{"relation":"next","url":"` + testUpstream + `?p=2"}]}`,
	`{"resourceType":"Bundle","type":"searchset","l\u0069nk":[{"relation":"next","url":"` + testUpstream + `?p=2"}]}`,
	"{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"lin\u212a\":[]}",
	`{"resourceT\u0079pe":"Bundle","type":"searchset","link":[]}`,
	`{"resourceType":"Bundl\u0065","type":"searchset","link":[{"relation":"next","url":"` + testUpstream + `?p=2"}]}`,
	`{"resourceType":"Bundle","type":"searchset","x\u00e9":1,"link":[]}`,
	`{"resourceType":"Bundle","type":"searchset","link":[],"LINK":[]}`,
	`{"resourceType":"Bundle","type":"searchset","link":{"relation":"next"}}`,
	`{"resourceType":"Bundle","type":"searchset","link":null}`,
	`{"resourceType":"Bundle","type":"searchset","link":[1,"a",{"relation":2,"url":"` + testUpstream + `?p=2"}]}`,
	`{"resourceType":"Bundle","type":"searchset","a":"\"link\":[]","b":{"link":[1]},"link":[{"relation":"next","url":"` + testUpstream + `?p=2"}]}`,
	// not Bundles, not JSON, not strict JSON
	`{"resourceType":"Observation","link":[]}`,
	`[{"link":[]}]`,
	`{"resourceType":"Bundle","type":"searchset","link"X[]}`,
	`{"resourceType":"Bundle","type":"searchset","link":[],}`,
	`{"resourceType":"Bundle","type":"searchset","link":[]`,
	`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","relation":"next","url":"` + testUpstream + `?p=2"}]}`,
	"{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":[{\"relation\":\"self\",\"url\":\"\xff\"}]}",
	`{"resourceType":"Bundle","type":"searchset","id":"b","id":"c","link":[]}`,
	`{"resourceType":"Bundle","type":"searchset","total":01,"link":[]}`,
	`{"resourceType":"Bundle","type":"searchset"} x`,
}

func TestLinksOneWalkMatchesTwoPasses(t *testing.T) {
	a := testAccess(t)
	rws := spliceRewriters(t)
	var bodies []string
	bodies = append(bodies, spliceSeeds...)
	for seed := range uint64(300) {
		bodies = append(bodies, (&gen{r: rand.New(rand.NewPCG(seed, 17)), pretty: seed%3 == 0}).bundle())
	}
	for i, body := range bodies {
		for _, rw := range rws {
			compareSplice(t, a, []byte(body), rw, FilterOptions{AnnotateWithheld: i%2 == 0, NarrowedType: "Observation"})
		}
	}
}

// TestLinksRefusedBodies: whatever Links would do, a body the walk cannot
// check is refused, and Links is not even asked.
func TestLinksRefusedBodies(t *testing.T) {
	a := testAccess(t)
	for _, body := range []string{
		`{"resourceType":"Bundle","type":"searchset","link"X[]}`,
		`{"resourceType":"Bundle","type":"searchset","link":[],}`,
		`{"resourceType":"Bundle","type":"searchset","link":[]`,
		`{"resourceType":"Bundle","type":"searchset","link":[],"LINK":[]}`,
		`{"resourceType":"Bundle","type":"searchset","link":[{"url":"a","URL":"b"}]}`,
		"{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":[],\"entry\":[{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"\xff\"}}]}",
		`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"x"}],"entry":[{"resource":{"resourceType":"Observation","id":"o1",` + metaLabels("laboratoryTests") + `,"subject":{"reference":"Patient/a"}}}]`,
		`{"resourceType":"Bundle","type":"document","link":[]}`,
		`{"resourceType":"Observation","link":[]}`,
	} {
		called := false
		_, _, err := a.FilterBundle([]byte(body), FilterOptions{Links: func(raw []byte) ([]byte, error) {
			called = true
			return []byte(`[{"relation":"self","url":"` + testPublic + `/x"}]`), nil
		}})
		if err == nil || called {
			t.Errorf("%s: err %v, Links called %v", body, err, called)
		}
	}
}

// TestLinksResultChecked: what Links returns is checked like an upstream
// link array, never trusted: foreign links go, upstream ones move to the
// public base, a paging relation makes the total unverifiable, and
// anything but an array is ErrLinks.
func TestLinksResultChecked(t *testing.T) {
	a := testAccess(t)
	const body = `{"resourceType":"Bundle","type":"searchset","total":0}`
	tests := []struct {
		name, links, want string
		err               bool
	}{
		{"kept, inserted first", `[{"relation":"self","url":"` + testPublic + `/x"}]`,
			`{"link":[{"relation":"self","url":"` + testPublic + `/x"}],"resourceType":"Bundle","type":"searchset","total":0}`, false},
		{"foreign link removed", `[{"relation":"self","url":"` + testPublic + `/x"},{"relation":"alternate","url":"https://evil.example/x"}]`,
			`{"link":[{"relation":"self","url":"` + testPublic + `/x"}],"resourceType":"Bundle","type":"searchset","total":0}`, false},
		{"upstream link moved", `[{"relation":"self","url":"` + testUpstream + `/x"}]`,
			`{"link":[{"relation":"self","url":"` + testPublic + `/x"}],"resourceType":"Bundle","type":"searchset","total":0}`, false},
		{"all removed", `[{"relation":"self","url":"https://evil.example/x"}]`, body, false},
		{"next drops the total", `[{"relation":"next","url":"` + testPublic + `/_page?p=1"}]`,
			`{"link":[{"relation":"next","url":"` + testPublic + `/_page?p=1"}],"resourceType":"Bundle","type":"searchset"}`, false},
		{"not an array", `{"relation":"self"}`, "", true},
		{"trailing bytes", `[] []`, "", true},
		{"invalid", `[{"relation":"self","url":"` + testPublic + `/x"`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := a.FilterBundle([]byte(body), FilterOptions{Links: func([]byte) ([]byte, error) { return []byte(tt.links), nil }})
			if tt.err {
				if !errors.Is(err, ErrLinks) {
					t.Fatalf("err %v, want ErrLinks (out %s)", err, out)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", out, err, tt.want)
			}
		})
	}
	boom := errors.New("boom")
	if _, _, err := a.FilterBundle([]byte(body), FilterOptions{Links: func([]byte) ([]byte, error) { return nil, boom }}); !errors.Is(err, ErrLinks) || !errors.Is(err, boom) {
		t.Fatalf("rewrite error: %v", err)
	}
}

// FuzzLinksOneWalk: FilterOptions.Links answers what the two passes it
// replaced answered, on any input.
func FuzzLinksOneWalk(f *testing.F) {
	for _, s := range spliceSeeds {
		f.Add([]byte(s))
	}
	for _, s := range trickySeeds {
		f.Add([]byte(s))
	}
	for seed := range uint64(40) {
		f.Add([]byte((&gen{r: rand.New(rand.NewPCG(seed, 19)), pretty: seed%2 == 0}).bundle()))
	}
	a := testAccess(f)
	rws := spliceRewriters(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rw := rws[len(body)%len(rws)]
		compareSplice(t, a, body, rw, FilterOptions{AnnotateWithheld: len(body)%2 == 0})
	})
}

// oldTopLevelLink is the value of the top-level link member as the old
// splice (linksplice's topLevelMember) found it: the first member whose plain
// ASCII key folds to "link", in a body encoding/json accepts.
func oldTopLevelLink(body []byte) ([]byte, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	// A decoded map would lose duplicates and order: walk the tokens.
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if k, _ := tok.(string); strings.EqualFold(k, "link") && !strings.ContainsFunc(k, func(r rune) bool { return r >= 0x80 }) {
			return v, true
		}
	}
	return nil, false
}

// TestFilterBundleInto: FilterBundle's result, built in dst when edited,
// the input itself when nothing changes.
func TestFilterBundleInto(t *testing.T) {
	a := testAccess(t)
	dst := make([]byte, 0, 1<<20)
	for _, body := range [][]byte{benchBundle(20, 3), []byte(`{"resourceType":"Bundle","type":"searchset"}`),
		[]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"` + testPublic + `/x"}]}`)} {
		want, wst, werr := a.FilterBundle(body, FilterOptions{})
		got, gst, gerr := a.FilterBundleInto(dst, body, FilterOptions{})
		if !bytes.Equal(got, want) || gst != wst || (gerr == nil) != (werr == nil) {
			t.Fatalf("FilterBundleInto differs from FilterBundle: %s / %s", got, want)
		}
		edited := !bytes.Equal(want, body)
		if edited && &got[:1][0] != &dst[:1][0] {
			t.Fatal("edited result not built in dst")
		}
		if !edited && &got[0] != &body[0] {
			t.Fatal("unchanged result copied")
		}
	}
}

// A Bundle with escaped or non-ASCII top-level keys, or an escaped
// resourceType, cannot have its links sealed: with a link member it is
// refused (the upstream's own self link would show the narrowed query),
// without one it passes with no link at all.
func TestOddBundleLinksRefused(t *testing.T) {
	a := testAccess(t)
	rws := spliceRewriters(t)
	for _, body := range []string{
		`{"resourceType":"Bundle","type":"searchset","l\u0069nk":[{"relation":"self","url":"` + testUpstream + `/Observation?subject=Patient/a"}]}`,
		`{"resourceT\u0079pe":"Bundle","type":"searchset","link":[]}`,
		`{"resourceType":"Bundl\u0065","type":"searchset","link":[{"relation":"next","url":"` + testUpstream + `?p=2"}]}`,
		`{"resourceType":"Bundle","type":"searchset","x\u00e9":1,"link":[{"relation":"self","url":"` + testUpstream + `/Observation"}]}`,
	} {
		for _, rw := range rws {
			if got := oneWalk(a, []byte(body), rw, FilterOptions{}); !errors.Is(got.err, ErrLinks) {
				t.Errorf("%s: %s: err = %v, want ErrLinks", rw.name, body, got.err)
			}
		}
	}
	for _, body := range []string{
		`{"resourceT\u0079pe":"Bundle","type":"searchset"}`,
		`{"resourceType":"Bundle","type":"searchset","x\u00e9":1}`,
	} {
		for _, rw := range rws {
			got := oneWalk(a, []byte(body), rw, FilterOptions{})
			if got.err != nil || bytes.Contains(got.out, []byte("link")) {
				t.Errorf("%s: %s: err %v, out %s", rw.name, body, got.err, got.out)
			}
		}
	}
}
