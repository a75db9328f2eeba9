package caddymodule

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/policy"
)

// accessMemoMax bounds the memo. A data source sees a few distinct
// obligation shapes per scope set and patient; when the memo is full it
// starts over, which costs one rebuild per shape.
const accessMemoMax = 4096

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
}

type accessEntry struct {
	resp   policy.Response
	ids    []string
	access *enforce.Access
}

func newAccessMemo() *accessMemo {
	return &accessMemo{seed: maphash.MakeSeed(), entries: make(map[uint64][]*accessEntry)}
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
	e := &accessEntry{resp: resp.Clone(), ids: slices.Clone(ids), access: a}
	m.mu.Lock()
	if m.n >= accessMemoMax {
		clear(m.entries)
		m.n = 0
	}
	m.entries[h] = append(m.entries[h], e)
	m.n++
	m.mu.Unlock()
	return a, nil
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
