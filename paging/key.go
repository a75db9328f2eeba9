package paging

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/chacha20poly1305"
)

// MinKeyBytes is the least key material a key file must decode to.
const MinKeyBytes = 32

// maxKeyFileBytes bounds what LoadKeyFile reads: a key file is a few dozen
// bytes, anything larger is a misconfiguration (a certificate bundle, a
// log file) rather than a key.
const maxKeyFileBytes = 4096

// HKDF labels. Distinct labels make the AEAD key and the key id independent
// values derived from the same secret.
const (
	labelAEAD  = "fhir-pep paging v1 xchacha20poly1305 key"
	labelKeyID = "fhir-pep paging v1 key id"
)

// Key is one derived sealing key. The zero value is unusable.
type Key struct {
	id   byte
	aead cipher.AEAD
}

// ID is the key id byte written into every blob sealed with this key.
func (k Key) ID() byte { return k.id }

var errKeyEncoding = errors.New("paging: key file must hold base64 or hex text")

// ParseKey derives a Key from the content of a key file: at least
// MinKeyBytes bytes, base64 (standard or URL alphabet, padded or not) or hex
// encoded, surrounded by optional white space.
func ParseKey(text []byte) (Key, error) {
	secret, err := decodeKeyText(bytes.TrimSpace(text))
	if err != nil {
		return Key{}, err
	}
	if len(secret) < MinKeyBytes {
		return Key{}, fmt.Errorf("paging: key file holds %d bytes of key, need at least %d", len(secret), MinKeyBytes)
	}
	aeadKey, err := hkdf.Key(sha256.New, secret, nil, labelAEAD, chacha20poly1305.KeySize)
	if err != nil {
		return Key{}, fmt.Errorf("paging: deriving key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, labelKeyID, 1)
	if err != nil {
		return Key{}, fmt.Errorf("paging: deriving key id: %w", err)
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return Key{}, fmt.Errorf("paging: %w", err)
	}
	return Key{id: id[0], aead: aead}, nil
}

// decodeKeyText accepts hex first (its alphabet is a subset of base64's, so
// a hex text must not be read as base64), then the four base64 variants.
func decodeKeyText(t []byte) ([]byte, error) {
	if len(t) == 0 {
		return nil, errKeyEncoding
	}
	s := string(t)
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errKeyEncoding
}

// LoadKeyFile reads and parses a key file. Errors name the path but never
// include the file's content.
func LoadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("paging: key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return Key{}, fmt.Errorf("paging: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileBytes {
		return Key{}, fmt.Errorf("paging: key file %s is larger than %d bytes", path, maxKeyFileBytes)
	}
	k, err := ParseKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}
