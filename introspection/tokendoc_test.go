package introspection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// referenceDocument is what the policy saw as input.token before the
// compact form: the answer decoded with UseNumber ({"active": false} for
// an inactive one).
func referenceDocument(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("reference decode: %v", err)
	}
	if m["active"] != true {
		return map[string]any{"active": false}
	}
	return m
}

// checkTokenDocument fails unless c renders exactly the reference document
// (numbers compared by their text, not their value) and carries its
// digest.
func checkTokenDocument(t testing.TB, data []byte, c *Claims) {
	t.Helper()
	ref := referenceDocument(t, data)
	want, err := ast.InterfaceToValue(ref)
	if err != nil {
		t.Fatalf("reference conversion: %v", err)
	}
	got := c.TokenValue()
	if got == nil || !sameValue(got, want) {
		t.Fatalf("input.token differs from what PCM sent:\n got %v\nwant %v", got, want)
	}
	if d, ok := tokenDigest(ref); !ok || c.TokenDigest() != d {
		t.Fatal("digest is not the digest of the rendered document")
	}
	if !c.Active {
		return
	}
	// fhirContext through its shape and slots: the same objects, the same
	// consent reference and references as read from the decoded objects.
	var list []map[string]any
	if v, ok := ref["fhirContext"].([]any); ok {
		list = make([]map[string]any, len(v))
		for i, e := range v {
			list[i], _ = e.(map[string]any)
		}
	}
	if got := c.FHIRContext(); !reflect.DeepEqual(got, list) {
		t.Fatalf("FHIRContext %v, want %v", got, list)
	}
	if got, want := c.ConsentRef(), consentRefOfObjects(c.ConsentID, list); got != want {
		t.Fatalf("ConsentRef %q, want %q", got, want)
	}
	var refs, wantRefs []string
	for r := range c.ContextReferences() {
		refs = append(refs, r)
	}
	for _, obj := range list {
		if r, ok := obj["reference"].(string); ok {
			wantRefs = append(wantRefs, r)
		}
	}
	if !slices.Equal(refs, wantRefs) {
		t.Fatalf("ContextReferences %q, want %q", refs, wantRefs)
	}
}

// consentRefOfObjects is ConsentRef as it was written over the decoded
// fhirContext objects, the reference for the slot-based one.
func consentRefOfObjects(consentID string, list []map[string]any) string {
	if consentID != "" {
		return consentID
	}
	for _, ctx := range list {
		ref, _ := ctx["reference"].(string)
		typ, _ := ctx["type"].(string)
		if typ != "Consent" && !strings.HasPrefix(ref, "Consent/") && !strings.Contains(ref, "/Consent/") {
			continue
		}
		if ref != "" {
			return ref
		}
		if id, ok := ctx["identifier"].(map[string]any); ok {
			switch v := id["value"].(type) {
			case string:
				if v != "" {
					return v
				}
			case json.Number:
				return string(v)
			}
		}
	}
	return ""
}

// sameValue is structural equality that, unlike ast.Compare, also
// requires numbers to have the same text (1 and 1.0 compare equal in Rego
// but are different documents).
func sameValue(a, b ast.Value) bool {
	switch a := a.(type) {
	case ast.Number:
		bn, ok := b.(ast.Number)
		return ok && string(a) == string(bn)
	case ast.Object:
		bo, ok := b.(ast.Object)
		if !ok || a.Len() != bo.Len() {
			return false
		}
		same := true
		a.Foreach(func(k, v *ast.Term) {
			bv := bo.Get(k)
			if bv == nil || !sameValue(v.Value, bv.Value) {
				same = false
			}
		})
		return same
	case *ast.Array:
		ba, ok := b.(*ast.Array)
		if !ok || a.Len() != ba.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Elem(i).Value, ba.Elem(i).Value) {
				return false
			}
		}
		return true
	}
	return a.Compare(b) == 0
}

// tokenShapes are answers in every shape the compact form treats
// differently: the national fixtures, bare and full patients, aud as a
// string and a list, present-but-empty strings, unknown members (nested,
// null, numbers with fractions and exponents), cnf with extra members or
// without a thumbprint, fhirContext with numeric identifiers, baskets as
// codes and objects with display and dateTime depths, escapes.
func tokenShapes(t *testing.T) map[string][]byte {
	t.Helper()
	shapes := map[string][]byte{}
	files, err := filepath.Glob("testdata/national/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no national fixtures: %v", err)
	}
	for _, f := range files {
		shapes[filepath.Base(f)] = nationalAnswer(t, filepath.Base(f))
	}
	edits := map[string]func(m map[string]any){
		"default":           nil,
		"aud list":          func(m map[string]any) { m["aud"] = []any{"a", testAudience} },
		"bare patient":      func(m map[string]any) { m["patient"] = "000000018" },
		"passport patient":  func(m map[string]any) { m["patient"] = "http://example.org/passport|AB-12" },
		"no patient":        func(m map[string]any) { m["scope"] = "system/Patient.r"; delete(m, "patient") },
		"empty strings":     func(m map[string]any) { m["jti"], m["intent"], m["client_id"], m["token_type"] = "", "", "", "" },
		"no jti, no iat":    func(m map[string]any) { delete(m, "jti"); delete(m, "iat") },
		"nbf":               func(m map[string]any) { m["nbf"] = 1794999000 },
		"unknown members":   func(m map[string]any) { m["x_ext"] = map[string]any{"a": []any{1.5, -2e3, nil, true}}; m["z"] = nil },
		"big number":        func(m map[string]any) { m["x_n"] = json.Number("123456789012345678901234567890") },
		"cnf extra member":  func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": testThumbprint, "jkt": "k"} },
		"cnf no thumbprint": func(m map[string]any) { m["cnf"] = map[string]any{} },
		"no cnf":            func(m map[string]any) { delete(m, "cnf") },
		"no fhirContext":    func(m map[string]any) { delete(m, "fhirContext") },
		"empty fhirContext": func(m map[string]any) { m["fhirContext"] = []any{} },
		"fhirContext numbers": func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"type": "HealthcareService", "identifier": map[string]any{"value": 98765, "system": "s"}}}
		},
		"fhirContext shapes": func(m map[string]any) {
			m["fhirContext"] = []any{
				map[string]any{"type": "HealthcareService", "role": "r", "canonical": "c"},
				map[string]any{"reference": "", "type": "Consent", "identifier": map[string]any{"value": ""}},
				map[string]any{"reference": "x/Consent/9"},
				map[string]any{"identifier": map[string]any{"value": true, "system": "s"}},
				map[string]any{"identifier": map[string]any{}},
				map[string]any{"type": "Consent", "identifier": map[string]any{"value": 1.5e3, "system": "s", "type": map[string]any{"text": "t"}}},
				map[string]any{},
			}
		},
		"consent by identifier": func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"type": "Consent", "identifier": map[string]any{"value": "PCM-1"}}}
		},
		"baskets codes": func(m map[string]any) { m["baskets"] = []any{"laboratoryTests"} },
		"baskets objects": func(m map[string]any) {
			m["baskets"] = []any{
				map[string]any{"code": "a", "system": "s", "display": "A", "historical_depth": "2024-01-01T10:00:00+02:00"},
				map[string]any{"code": "b", "historical_depth": nil},
			}
		},
		"empty baskets": func(m map[string]any) { m["baskets"] = []any{} },
		"national members": func(m map[string]any) {
			m["consent_id"], m["access_type"], m["sp_organization_id"] = "c-1", "one-time", "org-sp"
		},
		"escapes":  func(m map[string]any) { m["jti"] = "\"<&>\u05d0\\/\n"; m["intent"] = "\u2028" },
		"inactive": func(m map[string]any) { m["active"] = false },
	}
	for name, edit := range edits {
		shapes[name] = claimsJSON(t, edit)
	}
	shapes["inactive only"] = []byte(`{"active":false}`)
	shapes["exponent text kept"] = []byte(`{"active":true,"exp":1795000000,"aud":"a","scope":"s","iss":"i","x":1E3,"y":1.50,"z":-0}`)
	return shapes
}

// TestTokenValueIsWhatPCMSent is the differential test of the compact
// form: for every shape, the policy's input.token equals
// ast.InterfaceToValue of the answer decoded with UseNumber, and the
// digest is that document's.
func TestTokenValueIsWhatPCMSent(t *testing.T) {
	for name, data := range tokenShapes(t) {
		t.Run(name, func(t *testing.T) {
			c, err := DecodeClaims(data)
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			checkTokenDocument(t, data, c)
			// Rendering twice gives the same document: nothing shared was
			// changed by the first.
			if !sameValue(c.TokenValue(), c.TokenValue()) {
				t.Fatal("second rendering differs")
			}
		})
	}
}

// TestTokenDigest: equal documents share a digest whatever the member
// order and spacing; different documents, even with the same profile or
// with values that an ambiguous encoding would confuse, never do.
func TestTokenDigest(t *testing.T) {
	base := claimsJSON(t, nil)
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	reordered, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	a, b := mustDecode(t, base), mustDecode(t, reordered)
	if a.TokenDigest() != b.TokenDigest() {
		t.Fatal("the same document has two digests")
	}
	variants := map[string][]byte{
		"base":                 base,
		"jti":                  claimsJSON(t, func(m map[string]any) { m["jti"] = "other" }),
		"no jti":               claimsJSON(t, func(m map[string]any) { delete(m, "jti") }),
		"empty jti":            claimsJSON(t, func(m map[string]any) { m["jti"] = "" }),
		"patient":              claimsJSON(t, func(m map[string]any) { m["patient"] = NationalIDSystem + "|000000026" }),
		"bare patient":         claimsJSON(t, func(m map[string]any) { m["patient"] = "000000018" }),
		"exp":                  claimsJSON(t, func(m map[string]any) { m["exp"] = 1795000001 }),
		"iat":                  claimsJSON(t, func(m map[string]any) { m["iat"] = 1794999001 }),
		"thumbprint":           claimsJSON(t, func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": otherThumbprint} }),
		"aud list":             claimsJSON(t, func(m map[string]any) { m["aud"] = []any{testAudience} }),
		"scope":                claimsJSON(t, func(m map[string]any) { m["scope"] = "patient/Patient.r" }),
		"unknown null":         claimsJSON(t, func(m map[string]any) { m["x"] = nil }),
		"unknown empty string": claimsJSON(t, func(m map[string]any) { m["x"] = "" }),
		"unknown number 1":     claimsJSON(t, func(m map[string]any) { m["x"] = json.Number("1") }),
		"unknown number 1.0":   claimsJSON(t, func(m map[string]any) { m["x"] = json.Number("1.0") }),
		"unknown string 1":     claimsJSON(t, func(m map[string]any) { m["x"] = "1" }),
		"split ab|c":           claimsJSON(t, func(m map[string]any) { m["xab"] = "c" }),
		"split a|bc":           claimsJSON(t, func(m map[string]any) { m["xa"] = "bc" }),
		"nested":               claimsJSON(t, func(m map[string]any) { m["x"] = []any{[]any{}, []any{}} }),
		"flat":                 claimsJSON(t, func(m map[string]any) { m["x"] = []any{[]any{[]any{}}} }),
		"inactive":             []byte(`{"active":false}`),
		"inactive with data":   claimsJSON(t, func(m map[string]any) { m["active"] = false }),
	}
	seen := map[[32]byte]string{}
	for name, data := range variants {
		d := mustDecode(t, data).TokenDigest()
		if other, dup := seen[d]; dup {
			// Both inactive answers render {"active": false}: the same
			// document, rightly the same digest.
			if (name == "inactive" || name == "inactive with data") && (other == "inactive" || other == "inactive with data") {
				continue
			}
			t.Errorf("%q and %q share a digest", name, other)
		}
		seen[d] = name
	}
	var zero [32]byte
	if (*Claims)(nil).TokenDigest() != zero || (*Claims)(nil).TokenValue() != nil || (&Claims{}).TokenValue() != nil {
		t.Fatal("nil or hand-built claims render a document")
	}
}

const otherThumbprint = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func mustDecode(t testing.TB, data []byte) *Claims {
	t.Helper()
	c, err := DecodeClaims(data)
	if err != nil {
		t.Fatalf("DecodeClaims: %v", err)
	}
	return c
}

// TestProfilesShared: answers that differ only in their own members share
// one profile and one fhirContext; answers that differ in a shared member
// never do.
func TestProfilesShared(t *testing.T) {
	a := mustDecode(t, claimsJSON(t, func(m map[string]any) { m["jti"] = "a"; m["patient"] = "000000018" }))
	b := mustDecode(t, claimsJSON(t, func(m map[string]any) { m["jti"] = "b"; m["patient"] = "000000026" }))
	if a.profile != b.profile || a.ctxPiece != b.ctxPiece {
		t.Fatal("answers of one client do not share their profile")
	}
	for name, edit := range map[string]func(m map[string]any){
		"scope":       func(m map[string]any) { m["scope"] = "patient/Patient.r" },
		"iss":         func(m map[string]any) { m["iss"] = "https://other/" },
		"aud form":    func(m map[string]any) { m["aud"] = []any{testAudience} },
		"baskets":     func(m map[string]any) { m["baskets"] = []any{"a"} },
		"full form":   func(m map[string]any) { m["patient"] = NationalIDSystem + "|000000018" },
		"intent null": func(m map[string]any) { delete(m, "intent") },
	} {
		t.Run(name, func(t *testing.T) {
			c := mustDecode(t, claimsJSON(t, func(m map[string]any) {
				m["patient"] = "000000018"
				edit(m)
			}))
			if c.profile == a.profile {
				t.Fatal("different shared members, one profile")
			}
		})
	}
}

// TestInternTableBounded: the table never holds more than its bound,
// starts over when full, and concurrent interning of one key yields one
// value per generation with the right content.
func TestInternTableBounded(t *testing.T) {
	tab := &internTable[string]{max: 8, maxBytes: 1 << 20, maxKey: 1 << 10}
	for i := range 100 {
		key := fmt.Sprint("k", i)
		v, added, err := tab.intern([]byte(key), 1, func() (*string, error) { return &key, nil })
		if err != nil || !added || *v != key {
			t.Fatalf("intern %q: %v %v %v", key, *v, added, err)
		}
		if n := tab.len(); n > 8 {
			t.Fatalf("table holds %d values, bound 8", n)
		}
	}
	var wg sync.WaitGroup
	results := make([]*string, 16)
	for i := range results {
		wg.Go(func() {
			key := fmt.Sprint("shared-", i%2)
			v, _, err := tab.intern([]byte(key), 1, func() (*string, error) { s := key; return &s, nil })
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		})
	}
	wg.Wait()
	for i, v := range results {
		if want := fmt.Sprint("shared-", i%2); *v != want {
			t.Fatalf("key %q got value %q", want, *v)
		}
	}
	for i := range 100 {
		key := fmt.Sprint("s", i)
		if v, added := tab.store(key, &key); !added || *v != key {
			t.Fatalf("store %q: %q %v", key, *v, added)
		}
		other := "other"
		if v, added := tab.store(key, &other); added || *v != key {
			t.Fatalf("store replaced %q with %q", key, *v)
		}
		if v, ok := tab.lookup(key); !ok || *v != key {
			t.Fatalf("lookup %q", key)
		}
		if n := tab.len(); n > 8 {
			t.Fatalf("table holds %d values, bound 8", n)
		}
	}
	if _, _, err := tab.intern([]byte("bad"), 1, func() (*string, error) { return nil, os.ErrInvalid }); err == nil {
		t.Fatal("build error not returned")
	}
	if v, _, _ := tab.intern([]byte("bad"), 1, func() (*string, error) { s := "ok"; return &s, nil }); *v != "ok" {
		t.Fatal("a failed build was stored")
	}
}

// BenchmarkTokenValue is the cost of building input.token from the
// compact form, paid on a decision-cache miss only.
func BenchmarkTokenValue(b *testing.B) {
	c := mustDecode(b, claimsJSON(b, func(m map[string]any) {
		m["consent_id"], m["access_type"], m["sp_organization_id"] = "c-1", "one-time", "org-sp"
		m["baskets"] = []any{map[string]any{"code": "laboratoryTests", "historical_depth": "2024-01-01"}}
	}))
	b.ReportAllocs()
	for b.Loop() {
		if c.TokenValue() == nil {
			b.Fatal("nil")
		}
	}
}

// BenchmarkTokenValueReference is what building input.token cost before:
// ast.InterfaceToValue of the decoded map.
func BenchmarkTokenValueReference(b *testing.B) {
	data := claimsJSON(b, func(m map[string]any) {
		m["consent_id"], m["access_type"], m["sp_organization_id"] = "c-1", "one-time", "org-sp"
		m["baskets"] = []any{map[string]any{"code": "laboratoryTests", "historical_depth": "2024-01-01"}}
	})
	raw := referenceDocument(b, data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ast.InterfaceToValue(raw); err != nil {
			b.Fatal(err)
		}
	}
}
