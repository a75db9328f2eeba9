package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
)

// MinPatientKeyLen is the shortest key NewPatientHasher accepts: the full
// output size of SHA-256, so the key is never the weak part.
const MinPatientKeyLen = 32

// PatientHasher turns a patient identifier into a keyed hash that audit
// records can carry instead of the national id.
//
// A plain hash would not do: Israeli national ids are 9 digits, so all
// of them can be hashed in seconds and the hash reversed by lookup. With
// a secret key (HMAC-SHA256) the hash is only linkable by whoever holds
// the key, i.e. the data source that must answer audit questions.
type PatientHasher struct {
	pool sync.Pool
}

// NewPatientHasher returns a hasher keyed with key, which must be at
// least MinPatientKeyLen bytes. The caller loads the key (from a file
// readable only by the PEP) and keeps it stable: changing it unlinks old
// records from new ones.
func NewPatientHasher(key []byte) (*PatientHasher, error) {
	if len(key) < MinPatientKeyLen {
		return nil, errors.New("audit: patient hash key must be at least 32 bytes")
	}
	k := append([]byte(nil), key...)
	h := &PatientHasher{}
	h.pool.New = func() any { return &hashState{mac: hmac.New(sha256.New, k)} }
	return h, nil
}

// hashState is pooled so that Hash allocates only its result.
type hashState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// Hash returns base64url (no padding) of HMAC-SHA256(key, system|value).
// An empty value yields "": there is no patient to record, and a hash of
// "|" would look like one. The separator is not escaped: systems are URIs
// and values national ids, neither of which contains "|".
func (h *PatientHasher) Hash(system, value string) string {
	if value == "" {
		return ""
	}
	st := h.pool.Get().(*hashState)
	st.in = append(append(append(st.in[:0], system...), '|'), value...)
	st.mac.Reset()
	_, _ = st.mac.Write(st.in) // hash.Hash.Write never returns an error
	out := base64.RawURLEncoding.EncodeToString(st.mac.Sum(st.sum[:0]))
	clear(st.in) // do not keep a national id in pooled memory
	h.pool.Put(st)
	return out
}
