package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/smart"
)

// cacheKey is the SHA-256 of the policy version and a canonical encoding of
// everything in the input. The encoding is injective: every string is
// length-prefixed, every value tagged, every list counted, map keys sorted,
// and nil distinguished from empty wherever Value distinguishes them. It
// covers every field of the request, scope and input types, rendered by
// Value or not (cachekey_test.go fails when one of those types changes), so
// that two inputs with the same key always render the same input document.
type cacheKey [sha256.Size]byte

// keyBuffers recycles encoding buffers; a key is computed on every request.
var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// newCacheKey returns the key, and false when the token holds a value Value
// would refuse (such an input is never cached). Claims is keyed by its
// digest, which stands for the whole document (TokenDocument).
func newCacheKey(version string, in *Input) (cacheKey, bool) {
	bp := keyBuffers.Get().(*[]byte)
	e := keyEncoder{buf: (*bp)[:0]}
	e.str(version)
	e.request(in.Request)
	e.count(len(in.Entries), in.Entries == nil)
	for _, r := range in.Entries {
		e.request(r)
	}
	ok := true
	switch {
	case in.Token != nil && in.Claims != nil:
		ok = false // Value refuses it
	case in.Claims != nil:
		// The digest was computed once, when the token was decoded: a
		// cached read encodes no token.
		d := in.Claims.TokenDigest()
		e.tag(tagDigest)
		e.buf = append(e.buf, d[:]...)
	case in.Token == nil:
		e.tag(tagNil) // null; an empty map is {}
	default:
		e.tag(tagPresent)
		ok = e.json(in.Token, 0)
	}
	e.count(len(in.Scopes), in.Scopes == nil)
	for i := range in.Scopes {
		e.scope(&in.Scopes[i])
	}
	e.str(in.Patient.System)
	e.str(in.Patient.Value)
	e.strs(in.Patient.IDs)
	e.str(in.Client.MemberID)
	e.str(in.Client.Thumbprint)
	// Baskets grant buckets and bound dates: absent (nil), empty and each
	// field all change the decision.
	e.count(len(in.Baskets), in.Baskets == nil)
	for _, b := range in.Baskets {
		e.str(b.System)
		e.str(b.Code)
		e.str(b.HistoricalDepth)
	}
	key := cacheKey(sha256.Sum256(e.buf))
	*bp = e.buf
	keyBuffers.Put(bp)
	return key, ok
}

type keyEncoder struct{ buf []byte }

// Tags of the encoding.
const (
	tagNil byte = iota
	tagPresent
	tagFalse
	tagTrue
	tagString
	tagNumber
	tagArray
	tagObject
	tagDigest // a TokenDocument's digest, fixed length
)

func (e *keyEncoder) tag(t byte) { e.buf = append(e.buf, t) }

func (e *keyEncoder) uint(n uint64) { e.buf = binary.AppendUvarint(e.buf, n) }

func (e *keyEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *keyEncoder) bytes(b []byte) {
	e.uint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *keyEncoder) bool(b bool) {
	if b {
		e.tag(tagTrue)
		return
	}
	e.tag(tagFalse)
}

// count writes the length of a list, or nil.
func (e *keyEncoder) count(n int, isNil bool) {
	if isNil {
		e.tag(tagNil)
		return
	}
	e.tag(tagPresent)
	e.uint(uint64(n))
}

func (e *keyEncoder) strs(values []string) {
	e.count(len(values), values == nil)
	for _, v := range values {
		e.str(v)
	}
}

func (e *keyEncoder) request(r *fhir.Request) {
	if r == nil {
		e.tag(tagNil)
		return
	}
	e.tag(tagPresent)
	e.str(r.Method)
	e.str(string(r.Interaction))
	e.str(r.ResourceType)
	e.str(r.ID)
	e.str(r.VersionID)
	if c := r.Compartment; c == nil {
		e.tag(tagNil)
	} else {
		e.tag(tagPresent)
		e.str(c.Type)
		e.str(c.ID)
	}
	if op := r.Operation; op == nil {
		e.tag(tagNil)
	} else {
		e.tag(tagPresent)
		e.str(op.Name)
		e.str(string(op.Level))
	}
	e.count(len(r.Params), r.Params == nil)
	for i := range r.Params {
		p := &r.Params[i]
		e.str(p.Key)
		e.str(p.Name)
		e.str(p.Modifier)
		e.str(p.Chain)
		e.bool(p.IsHas)
		e.strs(p.Values)
		e.str(p.Raw)
	}
	e.bool(r.Conditional)
	e.bool(r.WantsXML)
	e.bool(r.WantsNonJSON)
}

func (e *keyEncoder) scope(s *smart.Scope) {
	e.str(s.Context)
	e.str(s.ResourceType)
	e.str(s.Permissions)
	e.uint(uint64(s.Version))
	e.str(s.Raw)
	keys := make([]string, 0, len(s.Constraints))
	for k := range s.Constraints {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.count(len(keys), s.Constraints == nil)
	for _, k := range keys {
		e.str(k)
		e.strs(s.Constraints[k])
	}
}

// json encodes a JSON-like value as jsonLike accepts it; false for anything
// else. Numbers are encoded as their JSON text, so 1 and 1.0 differ, as
// they do for the policy.
func (e *keyEncoder) json(x any, depth int) bool {
	if depth > maxTokenDepth {
		return false
	}
	switch x := x.(type) {
	case nil:
		e.tag(tagNil)
	case bool:
		e.bool(x)
	case string:
		e.tag(tagString)
		e.str(x)
	case json.Number:
		if !jsonLike(x, depth) {
			return false
		}
		e.tag(tagNumber)
		e.str(string(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
		// The text ast.InterfaceToValue gives the number.
		var tmp [32]byte
		e.tag(tagNumber)
		e.bytes(strconv.AppendFloat(tmp[:0], x, 'g', -1, 64))
	case int:
		var tmp [24]byte
		e.tag(tagNumber)
		e.bytes(strconv.AppendInt(tmp[:0], int64(x), 10))
	case int64:
		var tmp [24]byte
		e.tag(tagNumber)
		e.bytes(strconv.AppendInt(tmp[:0], x, 10))
	case uint64:
		var tmp [24]byte
		e.tag(tagNumber)
		e.bytes(strconv.AppendUint(tmp[:0], x, 10))
	case []string:
		e.tag(tagArray)
		e.uint(uint64(len(x)))
		for _, v := range x {
			e.tag(tagString)
			e.str(v)
		}
	case []any:
		e.tag(tagArray)
		e.uint(uint64(len(x)))
		for _, v := range x {
			if !e.json(v, depth+1) {
				return false
			}
		}
	case map[string]string:
		keys := sortedKeys(x)
		e.tag(tagObject)
		e.uint(uint64(len(keys)))
		for _, k := range keys {
			e.str(k)
			e.tag(tagString)
			e.str(x[k])
		}
	case map[string]any:
		keys := sortedKeys(x)
		e.tag(tagObject)
		e.uint(uint64(len(keys)))
		for _, k := range keys {
			e.str(k)
			if !e.json(x[k], depth+1) {
				return false
			}
		}
	default:
		return false
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
