package caddymodule

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/policy"
)

// accessMemoMax bounds the memo's entries. A data source sees a few
// distinct obligation shapes per scope set and patient; when the memo is
// full it starts over, which costs one rebuild per shape.
const accessMemoMax = 4096

// accessMemoMaxBytes bounds the memory the memo holds, as charged by
// accessCharge: entries grow with the scopes PCM issues (every bucket and
// constraint of every scope is kept, with what the Access builds on it),
// so the count alone does not bound it.
const accessMemoMaxBytes = 16 << 20

// accessEntryOverhead is charged for each entry on top of its strings:
// the entry, the Access and the maps and slices they hold.
const accessEntryOverhead = 1 << 10

// accessRuleOverhead and accessItemOverhead are charged per rule and per
// bucket, constraint, type or depth of an obligation: what the Access
// builds around each beyond its strings. Without them an obligation of
// many short items was charged a third of its heap (review finding);
// TestAccessChargeCoversTheAccess measures the shapes.
const (
	accessRuleOverhead = 256
	accessItemOverhead = 112
)

// accessMemo remembers the enforcer's Access for a response obligation and
// the patient's ids. A cached read repeats the same decision, and building
// the Access (bucket parsing, rule compilation) was a quarter of the PEP's
// allocations on that path. An Access is read-only once built, so one
// value serves concurrent requests. A hit requires the obligation and the
// ids to be equal, field by field, to those the Access was built from: the
// hash only finds the candidates.
type accessMemo struct {
	seed    maphash.Seed
	mu      sync.RWMutex
	entries map[uint64][]*accessEntry
	n       int
	// bytes is the sum of the entries' charges, at most maxBytes.
	bytes, maxBytes int
}

type accessEntry struct {
	resp   policy.Response
	ids    []string
	access *enforce.Access
	charge int
}

func newAccessMemo() *accessMemo {
	return &accessMemo{seed: maphash.MakeSeed(), entries: make(map[uint64][]*accessEntry), maxBytes: accessMemoMaxBytes}
}

// get returns the memoised Access for resp and ids, or builds it. Build
// errors are not remembered.
func (m *accessMemo) get(resp policy.Response, ids []string, build func() (*enforce.Access, error)) (*enforce.Access, error) {
	h := m.hash(resp, ids)
	m.mu.RLock()
	for _, e := range m.entries[h] {
		if sameResponse(e.resp, resp) && slices.Equal(e.ids, ids) {
			m.mu.RUnlock()
			return e.access, nil
		}
	}
	m.mu.RUnlock()
	a, err := build()
	if err != nil {
		return nil, err
	}
	charge := accessCharge(resp, ids)
	if charge > m.maxBytes {
		// Larger than the whole memo: used for this request only.
		return a, nil
	}
	e := &accessEntry{resp: resp.Clone(), ids: slices.Clone(ids), access: a, charge: charge}
	m.mu.Lock()
	if m.n >= accessMemoMax || m.bytes+charge > m.maxBytes {
		clear(m.entries)
		m.n, m.bytes = 0, 0
	}
	m.entries[h] = append(m.entries[h], e)
	m.n++
	m.bytes += charge
	m.mu.Unlock()
	return a, nil
}

// accessCharge is the memory an entry is charged for: every string of
// the obligation and the ids (with its header) and a fixed overhead per
// rule and per item (bucket, constraint, type, depth: the parsed forms,
// slices and map entries the Access builds on each) twice, plus
// accessEntryOverhead. Twice is an upper bound on the strings themselves
// (the key's clone and the Access share them), the structures built
// around them and the allocator's size-class rounding; measured in
// TestAccessChargeCoversTheAccess (about 0.6 of the charge).
func accessCharge(resp policy.Response, ids []string) int {
	const header = 16 // a string header
	n := 0
	for _, id := range ids {
		n += header + len(id)
	}
	for _, r := range resp.Rules {
		n += accessRuleOverhead + header + len(r.Type)
		for _, b := range r.Buckets {
			n += accessItemOverhead + header + len(b)
		}
		for _, c := range r.Constraints {
			n += accessItemOverhead + 2*header + len(c.Name) + len(c.Value)
		}
	}
	for typ, buckets := range resp.Types {
		n += accessItemOverhead + header + len(typ)
		for _, b := range buckets {
			n += accessItemOverhead + header + len(b)
		}
	}
	for bucket, since := range resp.Depths {
		n += accessItemOverhead + 2*header + len(bucket) + len(since)
	}
	return accessEntryOverhead + 2*n
}

// hash covers everything sameResponse compares. Map entries are hashed
// one by one and summed, so the map's iteration order does not matter.
func (m *accessMemo) hash(resp policy.Response, ids []string) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, id := range ids {
		h.WriteString(id)
		h.WriteByte(0)
	}
	h.WriteByte(1)
	for _, r := range resp.Rules {
		h.WriteString(r.Type)
		h.WriteByte(0)
		if r.Narrowed {
			h.WriteByte(1)
		}
		for _, b := range r.Buckets {
			h.WriteString(b)
			h.WriteByte(0)
		}
		h.WriteByte(2)
		for _, c := range r.Constraints {
			h.WriteString(c.Name)
			h.WriteByte(0)
			h.WriteString(c.Value)
			h.WriteByte(0)
		}
		h.WriteByte(3)
	}
	sum := h.Sum64()
	for typ, buckets := range resp.Types {
		sum += m.entryHash(4, typ, buckets...)
	}
	for bucket, since := range resp.Depths {
		sum += m.entryHash(5, bucket, since)
	}
	return sum
}

func (m *accessMemo) entryHash(kind byte, key string, values ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteByte(kind)
	h.WriteString(key)
	for _, v := range values {
		h.WriteByte(0)
		h.WriteString(v)
	}
	return h.Sum64()
}

func sameResponse(a, b policy.Response) bool {
	if len(a.Rules) != len(b.Rules) || len(a.Types) != len(b.Types) || len(a.Depths) != len(b.Depths) {
		return false
	}
	for i := range a.Rules {
		x, y := a.Rules[i], b.Rules[i]
		if x.Type != y.Type || x.Narrowed != y.Narrowed || !slices.Equal(x.Buckets, y.Buckets) || !slices.Equal(x.Constraints, y.Constraints) {
			return false
		}
	}
	for typ, buckets := range a.Types {
		other, ok := b.Types[typ]
		if !ok || !slices.Equal(buckets, other) {
			return false
		}
	}
	for bucket, since := range a.Depths {
		other, ok := b.Depths[bucket]
		if !ok || since != other {
			return false
		}
	}
	return true
}
