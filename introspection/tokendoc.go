package introspection

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The compact form of a decoded answer (issue #13: at most 50 MB per
// 100,000 cached answers). Most of an introspection answer is the same for
// every token a client holds: scope, iss, aud, client_id, organization ids,
// access_type, intent, token_type, baskets, the patient's identifier
// system, the shape of fhirContext. Those members live in a profile (and
// the fhirContext shape in a ctxPiece, fhircontext.go) shared through
// bounded intern tables; a Claims holds pointers to them plus what is this
// token's own: jti, the patient value, consent_id, the cnf thumbprint,
// exp/iat/nbf as seconds, and packed in one string (own) the fhirContext
// references and identifier values and the JSON of any member this package
// does not model (usually none). The decoded JSON map is not kept: the
// policy's input.token is
// rebuilt from this form when the policy is evaluated (TokenValue), and
// the decision cache keys on a digest computed once here (TokenDigest).

// sharedMembers are the top-level members kept in the profile, rendered
// into input.token exactly as PCM sent them.
var sharedMembers = [...]string{
	"active", "scope", "iss", "aud", "client_id", "organization_id", "token_type",
	"intent", "access_type", "sp_organization_id", "baskets",
}

// ownMembers are the members kept per token in typed fields (cnf only in
// its usual shape {"x5t#S256": ...}; see compactCNF).
var ownMembers = map[string]bool{
	"patient": true, "jti": true, "consent_id": true, "exp": true, "iat": true, "nbf": true,
	"cnf": true, "fhirContext": true,
}

// profile is the part of an answer many tokens share. It is immutable once
// built and read concurrently by every request holding a token with it;
// its fields are promoted into Claims.
type profile struct {
	Scope  string
	Scopes []string
	// Audience is "aud", normalised to a list (PCM may send a string).
	Audience         []string
	Issuer           string
	ClientID         string
	OrganizationID   string
	TokenType        string
	Intent           string
	SPOrganizationID string
	AccessType       string
	Baskets          []Basket
	// PatientSystem is the system of "patient" ("" when absent); a bare
	// value means NationalIDSystem, and patientBare records that PCM sent
	// it bare, so that input.token shows what PCM sent.
	PatientSystem string
	patientBare   bool

	// items are the shared members as input.token terms, rendered once.
	// OPA never mutates a term it was given, so every input shares them.
	items [][2]*ast.Term
}

// inactiveProfile is the profile of every inactive answer, whose
// input.token is {"active": false} whatever else PCM sent.
var inactiveProfile = &profile{
	items: [][2]*ast.Term{ast.Item(ast.InternedTerm("active"), ast.InternedTerm(false))},
}

// inactiveDigest is the digest of {"active": false}.
var inactiveDigest = func() [sha256.Size]byte {
	d, _ := tokenDigest(map[string]any{"active": false})
	return d
}()

// internTable shares equal immutable values between answers. It is keyed
// by the full canonical encoding of a value (never a hash of it), so two
// different values are never mixed up. It is bounded by count (max) and by
// the bytes it charges for its values (maxBytes, the same estimate the
// cache's cost model uses) and starts over when either bound is reached,
// so a PCM that sends a new value with every token costs a little sharing,
// never unbounded memory. A value whose key is longer than maxKey is never
// interned: it stays with its one answer, charged to that answer's cache
// cost. Values the table drops stay valid for the answers that hold them.
type internTable[T any] struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	maxKey   int
	bytes    int
	m        map[string]*T
}

// intern returns the value stored under key, or stores and returns built
// (computed outside the lock, charged size bytes) and reports that it was
// added (or, for a key over maxKey, built and not stored: the caller
// charges it as added).
func (t *internTable[T]) intern(key []byte, size int, build func() (*T, error)) (*T, bool, error) {
	if len(key) > t.maxKey {
		built, err := build()
		return built, err == nil, err
	}
	t.mu.Lock()
	v, ok := t.m[string(key)]
	t.mu.Unlock()
	if ok {
		return v, false, nil
	}
	built, err := build()
	if err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m[string(key)]; ok {
		return v, false, nil
	}
	t.add(string(key), built, size)
	return built, true, nil
}

// add stores v under key, charged size bytes, starting over first when
// either bound would be passed. t.mu must be held.
func (t *internTable[T]) add(key string, v *T, size int) {
	if t.m == nil || len(t.m) >= t.max || t.bytes+size > t.maxBytes {
		t.m = make(map[string]*T, min(t.max, 64))
		t.bytes = 0
	}
	t.m[key] = v
	t.bytes += size
}

// lookup returns the value stored under key.
func (t *internTable[T]) lookup(key string) (*T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	return v, ok
}

// store stores v under key unless a value is there already, and returns
// the stored value and whether it is v. A key over maxKey is not stored (v
// is returned, not added). The table keeps key and v as they are: they
// must not be slices of a larger string the table should not keep alive.
func (t *internTable[T]) store(key string, v *T) (*T, bool) {
	if len(key) > t.maxKey {
		return v, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[key]; ok {
		return old, false
	}
	t.add(key, v, allocSize(len(key))+64)
	return v, true
}

// len reports how many values the table holds.
func (t *internTable[T]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Bounds of each intern table, besides the cache's MaxCost: at most
// maxInterned values and maxInternedBytes of charged bytes (so the three
// tables hold at most about 3 x 4 MiB), and no value whose canonical key is
// over maxInternKey (such a value stays with its answer and is charged to
// it). A data source sees far fewer distinct client/scope/basket
// combinations than this, each well under the key bound.
const (
	maxInterned      = 1024
	maxInternedBytes = 4 << 20
	maxInternKey     = 4 << 10
)

var (
	profiles = newInternTable[profile]()
	contexts = newInternTable[ctxPiece]()
	owns     = newInternTable[string]()
)

func newInternTable[T any]() *internTable[T] {
	return &internTable[T]{max: maxInterned, maxBytes: maxInternedBytes, maxKey: maxInternKey}
}

// Canonical encoding of a decoded JSON value: every value tagged, every
// string length-prefixed, every list counted, object members sorted by
// name. It is injective on the values strictjson decodes (nil, bool,
// string, json.Number, []any, map[string]any), so equal encodings mean
// equal documents. Numbers are their JSON text: 1 and 1.0 differ, as their
// AST terms' text does.
const (
	canonNull byte = iota
	canonFalse
	canonTrue
	canonString
	canonNumber
	canonArray
	canonObject
	canonAbsent
)

type canonEncoder struct{ buf []byte }

func (e *canonEncoder) tag(t byte) { e.buf = append(e.buf, t) }

func (e *canonEncoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// value encodes x; false for a type JSON decoding never yields.
func (e *canonEncoder) value(x any) bool {
	switch x := x.(type) {
	case nil:
		e.tag(canonNull)
	case bool:
		if x {
			e.tag(canonTrue)
		} else {
			e.tag(canonFalse)
		}
	case string:
		e.tag(canonString)
		e.str(x)
	case json.Number:
		e.tag(canonNumber)
		e.str(string(x))
	case []any:
		e.tag(canonArray)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(x)))
		for _, v := range x {
			if !e.value(v) {
				return false
			}
		}
	case map[string]any:
		e.tag(canonObject)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(x)))
		for _, k := range sortedNames(x) {
			e.str(k)
			if !e.value(x[k]) {
				return false
			}
		}
	default:
		return false
	}
	return true
}

// tokenDigestDomain separates token digests from any other SHA-256 use.
const tokenDigestDomain = "fhir-pep/introspection token document v1\x00"

// tokenDigest is SHA-256 of the domain and the canonical encoding of the
// token document.
func tokenDigest(doc map[string]any) ([sha256.Size]byte, bool) {
	e := canonEncoder{buf: make([]byte, 0, 1024)}
	e.buf = append(e.buf, tokenDigestDomain...)
	if !e.value(doc) {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(e.buf), true
}

// profileKey is the canonical encoding of everything a profile renders:
// the shared members as sent (absent distinguished from null) and the
// patient system with its form.
func profileKey(raw map[string]any, patientSystem string, patientBare bool) ([]byte, bool) {
	e := canonEncoder{buf: make([]byte, 0, 512)}
	for _, name := range sharedMembers {
		v, ok := raw[name]
		if !ok {
			e.tag(canonAbsent)
			continue
		}
		if !e.value(v) {
			return nil, false
		}
	}
	e.str(patientSystem)
	if patientBare {
		e.tag(canonTrue)
	} else {
		e.tag(canonFalse)
	}
	return e.buf, true
}

// renderItems converts the named members of raw, in order, to AST items.
func renderItems(raw map[string]any, names []string) ([][2]*ast.Term, error) {
	items := make([][2]*ast.Term, 0, len(names))
	for _, name := range names {
		v, ok := raw[name]
		if !ok {
			continue
		}
		av, err := ast.InterfaceToValue(v)
		if err != nil {
			return nil, err
		}
		items = append(items, ast.Item(ast.StringTerm(name), ast.NewTerm(av)))
	}
	return items, nil
}

// compactCNF reports whether cnf has its usual shape, {"x5t#S256": s} with
// s already checked, so that the thumbprint alone renders it; any other
// cnf is kept as raw JSON.
func compactCNF(raw map[string]any, thumbprint string) bool {
	obj, ok := raw["cnf"].(map[string]any)
	return ok && len(obj) == 1 && thumbprint != "" && obj["x5t#S256"] == thumbprint
}

// compact fills the shared pieces, the per-token strings, the packed own
// values and the digest of c from the decoded answer raw; the typed
// per-token fields (patient, consent, thumbprint, times) are already set.
// It sets ownBytes: the per-token strings plus the pieces this answer
// added to the intern tables (a shared piece is charged to the answer that
// created it; the others hold it for free).
func (c *Claims) compact(raw map[string]any, d *parsedShared) error {
	pkey, ok := profileKey(raw, d.patientSystem, d.patientBare)
	if !ok {
		return malformed("unsupported JSON value")
	}
	psize := pieceSize(len(pkey), len(d.scopes)+len(d.audience)+len(d.baskets))
	p, added, err := profiles.intern(pkey, psize, func() (*profile, error) {
		items, err := renderItems(raw, sharedMembers[:])
		if err != nil {
			return nil, err
		}
		return &profile{
			Scope: d.scope, Scopes: d.scopes, Audience: d.audience, Issuer: d.issuer,
			ClientID: d.clientID, OrganizationID: d.organizationID, TokenType: d.tokenType,
			Intent: d.intent, SPOrganizationID: d.spOrganizationID, AccessType: d.accessType,
			Baskets: d.baskets, PatientSystem: d.patientSystem, patientBare: d.patientBare,
			items: items,
		}, nil
	})
	if err != nil {
		return malformed("unsupported JSON value")
	}
	c.profile = p
	cost := 0
	if added {
		cost += psize
	}

	c.ctxPiece = noContext
	var ctxVals []string
	if _, ok := raw["fhirContext"]; ok {
		piece, key, vals, ok := splitContext(d.fhirContext)
		if !ok {
			return malformed("unsupported JSON value")
		}
		csize := pieceSize(len(key), len(d.fhirContext)+len(vals))
		piece, added, err := contexts.intern(key, csize, func() (*ctxPiece, error) {
			return piece, piece.render()
		})
		if err != nil {
			return malformed("unsupported JSON value")
		}
		c.ctxPiece, ctxVals = piece, vals
		if added {
			cost += csize
		}
	}

	_, c.hasJTI = raw["jti"]
	c.cnfCompact = compactCNF(raw, c.Confirmation.X5tS256)
	extra := map[string]any{}
	for k, v := range raw {
		if isSharedMember(k) || (ownMembers[k] && (k != "cnf" || c.cnfCompact)) {
			continue
		}
		extra[k] = v
	}
	var extraJSON string
	if len(extra) > 0 {
		b, err := json.Marshal(extra)
		if err != nil {
			return malformed("unsupported JSON value")
		}
		extraJSON = string(b)
		if _, err := extraItems(extraJSON); err != nil {
			return malformed("unsupported JSON value")
		}
	}
	// own is usually shared with other tokens (the same fhirContext
	// references); when it is not, it goes into this token's string buffer
	// and the table keeps that copy.
	// own (fhirContext slot values, unmodelled members) is usually shared
	// with other tokens (the same context references), so it goes to the
	// table. It is an allocation of its own, never a slice of the buffer
	// below: the table may keep it after this token is gone, and must not
	// keep this token's national id, jti and consent with it.
	if own := packOwn(ctxVals, extraJSON); own != "" {
		v, added := owns.store(own, &own)
		c.own = *v
		switch {
		case added:
			cost += allocSize(len(own)) + 64 // the value and the table's entry
		case v == &own:
			cost += allocSize(len(own)) // over the key bound: this token's alone
		}
	}

	// One allocation for the per-token strings.
	var sb strings.Builder
	sb.Grow(len(c.JTI) + len(c.PatientValue) + len(c.ConsentID) + len(c.Confirmation.X5tS256))
	sb.WriteString(c.JTI)
	sb.WriteString(c.PatientValue)
	sb.WriteString(c.ConsentID)
	sb.WriteString(c.Confirmation.X5tS256)
	s := sb.String()
	cost += allocSize(len(s))
	n := 0
	take := func(l int) string { v := s[n : n+l]; n += l; return v }
	c.JTI = take(len(c.JTI))
	c.PatientValue = take(len(c.PatientValue))
	c.ConsentID = take(len(c.ConsentID))
	c.Confirmation.X5tS256 = take(len(c.Confirmation.X5tS256))

	if c.digest, ok = tokenDigest(raw); !ok {
		return malformed("unsupported JSON value")
	}
	c.ownBytes = int32(min(cost, 1<<30))
	return nil
}

// allocSize rounds a string's length up to the 16-byte steps in which the
// heap allocates small objects.
func allocSize(n int) int { return (n + 15) &^ 15 }

// pieceSize estimates the heap of a shared piece with a canonical key of
// keyLen bytes holding values list elements (scopes, audiences, baskets,
// context entries and slots): per byte for the strings, per element for
// the headers, slices and AST terms each one adds, which dominate when
// the elements are tiny.
func pieceSize(keyLen, values int) int {
	return keyLen*profileCostFactor + values*perValueCost
}

// perValueCost is the heap one list element adds besides its bytes.
const perValueCost = 128

// profileCostFactor estimates the heap a shared piece holds (strings,
// slices, AST terms, the intern key) per byte of its canonical encoding;
// TestCacheCostCoversHeap checks it with answers that share nothing.
const profileCostFactor = 7

func isSharedMember(name string) bool {
	for _, s := range sharedMembers {
		if s == name {
			return true
		}
	}
	return false
}

// Terms of the per-token members.
var (
	termPatient   = ast.StringTerm("patient")
	termJTI       = ast.StringTerm("jti")
	termConsentID = ast.StringTerm("consent_id")
	termExp       = ast.StringTerm("exp")
	termIat       = ast.StringTerm("iat")
	termNbf       = ast.StringTerm("nbf")
	termCNF       = ast.StringTerm("cnf")
	termX5t       = ast.StringTerm("x5t#S256")
	termFHIRCtx   = ast.StringTerm("fhirContext")
)

// TokenValue renders the answer as the policy's input.token: the JSON
// document PCM sent, numbers as JSON numbers with their text, unknown
// members included ({"active": false} for an inactive answer). It is
// built on every call, from the compact form; the policy engine calls it
// only when it evaluates (a decision-cache miss). Nil (which the policy
// denies) for a nil or hand-built Claims.
func (c *Claims) TokenValue() ast.Value {
	if c == nil || c.profile == nil {
		return nil
	}
	if !c.Active {
		return ast.NewObject(inactiveProfile.items...)
	}
	items := make([][2]*ast.Term, 0, len(c.items)+10)
	items = append(items, c.items...)
	if c.ctxPiece != nil && c.present {
		items = append(items, ast.Item(termFHIRCtx, c.ctxPiece.term(c.ctxVals())))
	}
	if c.PatientValue != "" {
		patient := c.PatientValue
		if !c.patientBare {
			patient = c.PatientSystem + "|" + c.PatientValue
		}
		items = append(items, ast.Item(termPatient, ast.StringTerm(patient)))
	}
	if c.hasJTI {
		items = append(items, ast.Item(termJTI, ast.StringTerm(c.JTI)))
	}
	if c.ConsentID != "" {
		items = append(items, ast.Item(termConsentID, ast.StringTerm(c.ConsentID)))
	}
	for _, t := range [...]struct {
		key  *ast.Term
		secs int64
	}{{termExp, c.exp}, {termIat, c.iat}, {termNbf, c.nbf}} {
		if t.secs != 0 {
			items = append(items, ast.Item(t.key, ast.NumberTerm(json.Number(strconv.FormatInt(t.secs, 10)))))
		}
	}
	if c.cnfCompact {
		items = append(items, ast.Item(termCNF, ast.ObjectTerm(ast.Item(termX5t, ast.StringTerm(c.Confirmation.X5tS256)))))
	}
	if _, extraJSON := splitOwn(c.own); extraJSON != "" {
		extra, err := extraItems(extraJSON)
		if err != nil {
			return nil // not reached: decoding checked that extras render
		}
		items = append(items, extra...)
	}
	return ast.NewObject(items...)
}

// extraItems renders the members the compact form does not model, in
// name order. Decoding calls it once, so that an answer whose extras would
// not render is refused there: TokenValue is then never nil for a decoded
// answer, and an engine that does not render the token (its policy never
// reads it) may rely on TokenDigest alone.
func extraItems(extraJSON string) ([][2]*ast.Term, error) {
	extra, err := decodeStrictObject([]byte(extraJSON))
	if err != nil {
		return nil, err
	}
	items := make([][2]*ast.Term, 0, len(extra))
	for _, k := range sortedNames(extra) {
		v, err := ast.InterfaceToValue(extra[k])
		if err != nil {
			return nil, err
		}
		items = append(items, ast.Item(ast.StringTerm(k), ast.NewTerm(v)))
	}
	return items, nil
}

// TokenDigest is SHA-256 over a canonical, injective encoding of the
// document TokenValue renders, computed once when the answer was decoded:
// two answers with the same digest render the same input.token, so the
// policy's decision cache keys on it instead of encoding the token on
// every request. Zero for a nil or hand-built Claims (whose TokenValue is
// nil and denied).
func (c *Claims) TokenDigest() [sha256.Size]byte {
	if c == nil || c.profile == nil {
		return [sha256.Size]byte{}
	}
	return c.digest
}

// sortedNames returns the member names of an object in order.
func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
