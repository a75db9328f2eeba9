package policy

import (
	"crypto/sha256"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// fakeDoc is a TokenDocument with a given value and digest.
type fakeDoc struct {
	value  ast.Value
	digest [sha256.Size]byte
}

func (d fakeDoc) TokenValue() ast.Value          { return d.value }
func (d fakeDoc) TokenDigest() [sha256.Size]byte { return d.digest }

func docInput(doc TokenDocument) *Input {
	in := keyInput()
	in.Token, in.Claims = nil, doc
	return in
}

// TestCacheKeyClaims: a prepared token is keyed by its digest alone (no
// per-request encoding of the document), different digests never share a
// key, and none of them the key of a map token or of no token.
func TestCacheKeyClaims(t *testing.T) {
	doc := fakeDoc{value: ast.MustParseTerm(`{"active": true}`).Value, digest: sha256.Sum256([]byte("a"))}
	base, ok := newCacheKey("v1", docInput(doc))
	if !ok {
		t.Fatal("prepared token refused")
	}
	if again, _ := newCacheKey("v1", docInput(fakeDoc{digest: doc.digest})); again != base {
		t.Fatal("key depends on more than the digest")
	}
	seen := map[cacheKey]string{base: "base"}
	for name, in := range map[string]*Input{
		"other digest": docInput(fakeDoc{value: doc.value, digest: sha256.Sum256([]byte("b"))}),
		"zero digest":  docInput(fakeDoc{value: doc.value}),
		"map token":    keyInput(),
		"no token":     docInput(nil),
		"empty map":    func() *Input { in := docInput(nil); in.Token = map[string]any{}; return in }(),
	} {
		k, ok := newCacheKey("v1", in)
		if !ok {
			t.Fatalf("%s refused", name)
		}
		if other, dup := seen[k]; dup {
			t.Fatalf("%s has the key of %s", name, other)
		}
		seen[k] = name
	}
}

// TestValueClaims: input.token is what the document renders; a document
// that renders nothing, or a token given twice, is refused by Value and
// by the cache key (never cached, denied with ErrInput).
func TestValueClaims(t *testing.T) {
	want := ast.MustParseTerm(`{"active": true, "exp": 1900000000}`).Value
	in := docInput(fakeDoc{value: want})
	v, ok := in.Value().(ast.Object)
	if !ok {
		t.Fatal("no input")
	}
	if got := v.Get(keyToken); got == nil || got.Value.Compare(want) != 0 {
		t.Fatalf("input.token %v, want %v", got, want)
	}

	if docInput(fakeDoc{}).Value() != nil {
		t.Fatal("a document without a value rendered")
	}
	both := docInput(fakeDoc{value: want})
	both.Token = map[string]any{"active": true}
	if both.Value() != nil {
		t.Fatal("Token and Claims both set, yet rendered")
	}
	if _, ok := newCacheKey("v1", both); ok {
		t.Fatal("Token and Claims both set, yet keyed")
	}
}
