package paging

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// DefaultTTL is how long a page link stays valid when Options.TTL is zero.
const DefaultTTL = 10 * time.Minute

// MaxTTL bounds Options.TTL: a page link is a bearer capability for one
// token's data and should not outlive a working session.
const MaxTTL = 24 * time.Hour

// MaxLinkLen bounds the upstream link (the part after upstream_base) that
// can be sealed. Continuation tokens and HAPI's _getpages ids stay far
// below it; servers that page by repeating the whole query (_offset) make
// links as long as the search, and a search sent upstream as POST _search
// because it was too long for a URL can be tens of KiB. (The link is
// sealed as it is: compressing it before encryption would let a client
// learn the upstream link's content from the sealed length.)
const MaxLinkLen = 64 << 10

// MaxOriginLen bounds the client request a link carries (Seal's origin):
// a POST _search form can be longer than any URL.
const MaxOriginLen = 1<<16 - 1 // its length is stored in two bytes

// PagePath is the path, under the public base, of the PEP's page route, and
// PageParam its one query parameter.
const (
	PagePath  = "/_page"
	PageParam = "p"
)

const (
	blobVersion = 1
	headerLen   = 2 // version, key id
	nonceLen    = chacha20poly1305.NonceSizeX
	expiryLen   = 8
	originLen   = 2
	plainFixed  = expiryLen + sha256.Size + originLen
	minBlobLen  = headerLen + nonceLen + chacha20poly1305.Overhead + plainFixed
	maxBlobLen  = minBlobLen + MaxOriginLen + MaxLinkLen
)

// maxSealedLen is the longest base64 text Open decodes; longer input is
// refused before any work.
var maxSealedLen = base64.RawURLEncoding.EncodedLen(maxBlobLen)

// Options configure a Sealer.
type Options struct {
	// UpstreamBase is the FHIR base URL of the upstream server; only links
	// under it are sealed. Required, absolute http or https.
	UpstreamBase string
	// PublicBase is the FHIR base URL clients use; page links are
	// PublicBase + PagePath + "?p=...". Required, absolute http or https.
	PublicBase string
	// Current seals new links and opens them. Required.
	Current Key
	// Previous, when set, still opens links sealed before a key rotation.
	Previous *Key
	// TTL is how long a link stays valid (default DefaultTTL, at most
	// MaxTTL).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Sealer seals and opens page links. It is immutable and safe for
// concurrent use.
type Sealer struct {
	upstream   *url.URL
	upstreamS  string // normalised, no trailing "/"
	upstreamP  string // escaped path of upstream, no trailing "/"
	publicS    string // normalised, no trailing "/"
	current    Key
	previous   *Key
	ttl        time.Duration
	now        func() time.Time
	pagePrefix string // publicS + PagePath + "?p="
	// nonces is crypto/rand.Reader; tests replace it to make Seal
	// deterministic.
	nonces io.Reader
}

// New checks the options and returns a Sealer.
func New(o Options) (*Sealer, error) {
	if o.Current.aead == nil {
		return nil, errors.New("paging: no current key")
	}
	if o.Previous != nil && o.Previous.aead == nil {
		return nil, errors.New("paging: previous key is unusable")
	}
	up, err := parseBase(o.UpstreamBase)
	if err != nil {
		return nil, fmt.Errorf("paging: upstream base: %w", err)
	}
	pub, err := parseBase(o.PublicBase)
	if err != nil {
		return nil, fmt.Errorf("paging: public base: %w", err)
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > MaxTTL {
		return nil, fmt.Errorf("paging: ttl %s outside [1s, %s]", ttl, MaxTTL)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Sealer{
		upstream:  up,
		upstreamS: strings.TrimSuffix(up.String(), "/"),
		upstreamP: strings.TrimSuffix(up.EscapedPath(), "/"),
		publicS:   strings.TrimSuffix(pub.String(), "/"),
		current:   o.Current,
		previous:  o.Previous,
		ttl:       ttl,
		now:       now,
		nonces:    rand.Reader,
	}
	s.pagePrefix = s.publicS + PagePath + "?" + PageParam + "="
	return s, nil
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("must be an absolute http(s) URL without user info, query or fragment")
	}
	return u, nil
}

// TTL is the configured link lifetime.
func (s *Sealer) TTL() time.Duration { return s.ttl }

// relative returns the part of an upstream link after the upstream base,
// starting with "/" or "?" or empty. It refuses links elsewhere and links
// whose path would leave the base once an upstream normalises it ("..").
// A fragment is dropped: it never reaches a server anyway.
func (s *Sealer) relative(link string) (string, error) {
	if strings.ContainsFunc(link, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return "", ErrNotUpstream
	}
	u, err := url.Parse(link)
	if err != nil || u.Opaque != "" || u.User != nil ||
		!strings.EqualFold(u.Scheme, s.upstream.Scheme) || !strings.EqualFold(u.Host, s.upstream.Host) {
		return "", ErrNotUpstream
	}
	p := u.EscapedPath()
	rest, ok := strings.CutPrefix(p, s.upstreamP)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", ErrNotUpstream
	}
	for seg := range strings.SplitSeq(rest, "/") {
		// "%2e" spellings too: some servers decode before normalising.
		// And no encoded separator or NUL: the page route unescapes the
		// path before it goes upstream, so "..%2F.." would become two
		// ".." segments outside the base.
		if d, err := url.PathUnescape(seg); err != nil || d == "." || d == ".." ||
			strings.ContainsAny(d, "/\\\x00") {
			return "", ErrNotUpstream
		}
	}
	if u.RawQuery != "" || u.ForceQuery {
		rest += "?" + u.RawQuery
	}
	if len(rest) > MaxLinkLen {
		return "", ErrLinkTooLong
	}
	return rest, nil
}

// Seal seals an upstream link under the current key, bound to b, valid for
// the TTL from now. origin is the client's request the page belongs to,
// relative to the public base ("/Observation?code=1", as SelfLink renders
// it): following the link re-runs the policy on it (see Page.Origin). Seal
// returns the opaque value only; Link returns the full public URL.
func (s *Sealer) Seal(upstreamLink, origin string, b Binding) (string, error) {
	if !b.complete() {
		return "", errors.New("paging: binding without token or certificate")
	}
	if !validOrigin(origin) {
		return "", ErrOrigin
	}
	rest, err := s.relative(upstreamLink)
	if err != nil {
		return "", err
	}
	plainLen := plainFixed + len(origin) + len(rest)
	blob := make([]byte, headerLen+nonceLen, headerLen+nonceLen+plainLen+chacha20poly1305.Overhead)
	blob[0], blob[1] = blobVersion, s.current.id
	if _, err := io.ReadFull(s.nonces, blob[headerLen:]); err != nil {
		return "", fmt.Errorf("paging: nonce: %w", err)
	}
	plain := make([]byte, plainFixed, plainLen)
	binary.BigEndian.PutUint64(plain, uint64(s.now().Add(s.ttl).Unix()))
	d := b.digest()
	copy(plain[expiryLen:], d[:])
	binary.BigEndian.PutUint16(plain[expiryLen+sha256.Size:], uint16(len(origin)))
	plain = append(plain, origin...)
	plain = append(plain, rest...)
	blob = s.current.aead.Seal(blob, blob[headerLen:headerLen+nonceLen], plain, blob[:headerLen])
	return base64.RawURLEncoding.EncodeToString(blob), nil
}

// validOrigin: empty (the base) or starting with "/" or "?", printable
// ASCII, at most MaxOriginLen bytes.
func validOrigin(o string) bool {
	if len(o) > MaxOriginLen || (o != "" && o[0] != '/' && o[0] != '?') {
		return false
	}
	for i := 0; i < len(o); i++ {
		if o[i] <= ' ' || o[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Link seals an upstream link and returns the PEP's own page URL for it.
func (s *Sealer) Link(upstreamLink, origin string, b Binding) (string, error) {
	v, err := s.Seal(upstreamLink, origin, b)
	if err != nil {
		return "", err
	}
	return s.pagePrefix + v, nil
}

// Page is the authentic content of a sealed link, not yet checked against
// the request that follows it (Verify).
type Page struct {
	// Upstream is the upstream URL to fetch.
	Upstream string
	// Rest is Upstream relative to the upstream base: empty, or starting
	// with "/" (an escaped path, then maybe "?query") or "?" (a query on
	// the base itself, as HAPI's _getpages links are).
	Rest string
	// Origin is the client's request the page belongs to, as given to Seal.
	// The PEP re-parses it and runs the policy on it with the current
	// token's claims: the decision's obligations must digest to the sealed
	// ones (Binding.Obligations), and the response is checked under them.
	Origin string
	expiry int64
	digest [sha256.Size]byte
}

// Unseal decodes and authenticates a sealed value. The only error is
// ErrInvalid: nothing in the result is trusted for the current request
// before Verify.
func (s *Sealer) Unseal(sealed string) (*Page, error) {
	if len(sealed) > maxSealedLen || len(sealed) < base64.RawURLEncoding.EncodedLen(minBlobLen) {
		return nil, ErrInvalid
	}
	blob, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	if err != nil || len(blob) < minBlobLen || blob[0] != blobVersion {
		return nil, ErrInvalid
	}
	nonce, ct, ad := blob[headerLen:headerLen+nonceLen], blob[headerLen+nonceLen:], blob[:headerLen]
	var plain []byte
	opened := false
	for _, k := range [2]*Key{&s.current, s.previous} {
		if k == nil || k.id != blob[1] {
			continue
		}
		if p, err := k.aead.Open(nil, nonce, ct, ad); err == nil {
			plain, opened = p, true
			break
		}
	}
	if !opened || len(plain) < plainFixed {
		return nil, ErrInvalid
	}
	n := int(binary.BigEndian.Uint16(plain[expiryLen+sha256.Size:]))
	if len(plain) < plainFixed+n {
		return nil, ErrInvalid
	}
	rest := string(plain[plainFixed+n:])
	p := &Page{
		Upstream: s.upstreamS + rest,
		Rest:     rest,
		Origin:   string(plain[plainFixed : plainFixed+n]),
		expiry:   int64(binary.BigEndian.Uint64(plain)),
	}
	copy(p.digest[:], plain[expiryLen:])
	return p, nil
}

// Verify checks an unsealed page against the binding of the request that
// follows it: ErrBindingMismatch first, so a client that is not the link's
// owner learns nothing about it, then ErrExpired.
func (s *Sealer) Verify(p *Page, b Binding) error {
	// An incomplete binding can never match a sealed one (Seal refuses
	// them), but checking keeps the rule local.
	d := b.digest()
	if !b.complete() || subtle.ConstantTimeCompare(d[:], p.digest[:]) != 1 {
		return ErrBindingMismatch
	}
	if s.now().Unix() >= p.expiry {
		return ErrExpired
	}
	return nil
}

// Open is Unseal then Verify, for a caller that knows the binding before
// opening (the obligations do not depend on the page's Origin).
func (s *Sealer) Open(sealed string, b Binding) (*Page, error) {
	p, err := s.Unseal(sealed)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(p, b); err != nil {
		return nil, err
	}
	return p, nil
}

// SealedValue extracts the sealed value from the raw query string of a
// request to PagePath. It must be exactly "p=<sealed>": a client cannot
// add, repeat or change parameters of a page (ErrInvalid).
func SealedValue(rawQuery string) (string, error) {
	v, ok := strings.CutPrefix(rawQuery, PageParam+"=")
	if !ok || v == "" || strings.ContainsAny(v, "&;=%+") {
		return "", ErrInvalid
	}
	return v, nil
}
