package paging

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

const hapiNext = testUpstream + "?_getpages=6f2c1b0e-9a1d-4d2e-8f0a-3c1b2a4d5e6f&_getpagesoffset=2&_count=2&_bundletype=searchset"

func TestSealOpenRoundTrip(t *testing.T) {
	links := []struct {
		name, link, want string
	}{
		{"hapi getpages", hapiNext, hapiNext},
		{"continuation token", testUpstream + "/Observation?ct=eyJ0b2tlbiI6IisrUkk%3D&_count=50", ""},
		{"offset", testUpstream + "/Observation?patient=p-18&_offset=20", ""},
		{"base itself", testUpstream, ""},
		{"fragment dropped", testUpstream + "/Observation?page=2#top", testUpstream + "/Observation?page=2"},
		{"host case", "http://HAPI.internal:8080/fhir/Observation?page=3", testUpstream + "/Observation?page=3"},
		{"empty query kept", testUpstream + "/Observation?", testUpstream + "/Observation?"},
	}
	clock := newClock()
	s := newSealer(t, clock, mustKey(t, testKeyText), nil)
	for _, tc := range links {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.link
			}
			sealed, err := s.Seal(tc.link, testOrigin, testBinding())
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if strings.Contains(sealed, "hapi") || strings.Contains(sealed, "getpages") {
				t.Fatalf("sealed value shows the upstream link: %s", sealed)
			}
			got, err := openURL(s, sealed, testBinding())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got != want {
				t.Fatalf("Open = %q, want %q", got, want)
			}
		})
	}
}

func TestSealRefuses(t *testing.T) {
	cases := []struct {
		name string
		link string
		b    func(*Binding)
		want error
	}{
		{"other host", "http://evil.example:8080/fhir?_getpages=x", nil, ErrNotUpstream},
		{"other port", "http://hapi.internal:9090/fhir?_getpages=x", nil, ErrNotUpstream},
		{"other scheme", "https://hapi.internal:8080/fhir?_getpages=x", nil, ErrNotUpstream},
		{"path prefix not on a segment", testUpstream + "x/Observation", nil, ErrNotUpstream},
		{"other path", "http://hapi.internal:8080/admin?x=1", nil, ErrNotUpstream},
		{"dot dot", testUpstream + "/../admin", nil, ErrNotUpstream},
		{"encoded dot dot", testUpstream + "/%2e%2E/admin", nil, ErrNotUpstream},
		{"encoded slash that unescapes to dot dot", testUpstream + "/Observation/..%2F..%2Fadmin?x=1", nil, ErrNotUpstream},
		{"encoded slash", testUpstream + "/a%2Fb", nil, ErrNotUpstream},
		{"encoded backslash", testUpstream + "/a%5C..", nil, ErrNotUpstream},
		{"encoded NUL", testUpstream + "/a%00b", nil, ErrNotUpstream},
		{"user info", "http://u:p@hapi.internal:8080/fhir?x=1", nil, ErrNotUpstream},
		{"relative", "/fhir?_getpages=x", nil, ErrNotUpstream},
		{"control char", testUpstream + "?a=\n", nil, ErrNotUpstream},
		{"backslash", testUpstream + `\..\admin`, nil, ErrNotUpstream},
		{"too long", testUpstream + "?ct=" + strings.Repeat("a", MaxLinkLen), nil, ErrLinkTooLong},
		{"no token", hapiNext, func(b *Binding) { b.TokenSHA256 = [32]byte{} }, nil},
		{"no thumbprint", hapiNext, func(b *Binding) { b.Thumbprint = "" }, nil},
	}
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBinding()
			if tc.b != nil {
				tc.b(&b)
			}
			v, err := s.Seal(tc.link, testOrigin, b)
			if err == nil {
				t.Fatalf("Seal = %q, want an error", v)
			}
			if tc.want != nil && err != tc.want {
				t.Fatalf("Seal error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenBindingAndExpiry(t *testing.T) {
	cases := []struct {
		name    string
		advance time.Duration
		b       func(*Binding)
		want    error
	}{
		{"same request", 0, nil, nil},
		{"patient ids in another order", 0, func(b *Binding) { b.PatientIDs = []string{"p-18-old", "p-18", "p-18"} }, nil},
		{"just before expiry", DefaultTTL - time.Second, nil, nil},
		{"at expiry", DefaultTTL, nil, ErrExpired},
		{"long after", 48 * time.Hour, nil, ErrExpired},
		{"another token", 0, func(b *Binding) { b.TokenSHA256 = TokenDigest("token-of-sp-b") }, ErrBindingMismatch},
		{"another certificate", 0, func(b *Binding) { b.Thumbprint = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" }, ErrBindingMismatch},
		{"another patient", 0, func(b *Binding) { b.PatientIDs = []string{"p-26"} }, ErrBindingMismatch},
		{"one patient id more", 0, func(b *Binding) { b.PatientIDs = append(b.PatientIDs, "p-26") }, ErrBindingMismatch},
		{"no patient", 0, func(b *Binding) { b.PatientIDs = nil }, ErrBindingMismatch},
		{"other obligations", 0, func(b *Binding) { b.Obligations = ObligationsDigest([]byte(`{}`)) }, ErrBindingMismatch},
		{"incomplete binding", 0, func(b *Binding) { b.Thumbprint = "" }, ErrBindingMismatch},
		{"binding checked before expiry", time.Hour, func(b *Binding) { b.TokenSHA256 = TokenDigest("x") }, ErrBindingMismatch},
		// Thumbprint and patient id boundaries are length-prefixed: moving
		// bytes between fields changes the digest.
		{"field boundary", 0, func(b *Binding) {
			b.Thumbprint += "p"
			b.PatientIDs = []string{"-18", "p-18-old"}
		}, ErrBindingMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			s := newSealer(t, clock, mustKey(t, testKeyText), nil)
			sealed, err := s.Seal(hapiNext, testOrigin, testBinding())
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.advance)
			b := testBinding()
			if tc.b != nil {
				tc.b(&b)
			}
			got, err := openURL(s, sealed, b)
			if err != tc.want {
				t.Fatalf("Open error = %v, want %v", err, tc.want)
			}
			if err == nil && got != hapiNext {
				t.Fatalf("Open = %q", got)
			}
			var pe *Error
			if err != nil && (!errors.As(err, &pe) || pe.HTTPStatus() != map[error]int{ErrExpired: 410, ErrBindingMismatch: 403}[tc.want]) {
				t.Fatalf("status of %v wrong", err)
			}
		})
	}
}

func TestOpenTampered(t *testing.T) {
	clock := newClock()
	s := newSealer(t, clock, mustKey(t, testKeyText), nil)
	sealed, err := s.Seal(hapiNext, testOrigin, testBinding())
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := base64.RawURLEncoding.DecodeString(sealed)
	flip := func(i int) string {
		c := append([]byte(nil), blob...)
		c[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(c)
	}
	cases := []struct {
		name, v string
	}{
		{"empty", ""},
		{"not base64", strings.Repeat("!", len(sealed))},
		{"padded base64", base64.URLEncoding.EncodeToString(blob)},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(sealed) + "+"},
		{"truncated", sealed[:len(sealed)-4]},
		{"short", sealed[:20]},
		{"extended", sealed + "AAAA"},
		{"version byte", flip(0)},
		{"key id byte", flip(1)},
		{"nonce", flip(5)},
		{"ciphertext", flip(40)},
		{"tag", flip(len(blob) - 1)},
		{"too long", strings.Repeat("A", maxSealedLen+4)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := openURL(s, tc.v, testBinding()); err != ErrInvalid {
				t.Fatalf("Open = %q, %v; want ErrInvalid", got, err)
			}
		})
	}
	if ErrInvalid.HTTPStatus() != 400 {
		t.Fatal("ErrInvalid is not 400")
	}
}

func TestOpenQuery(t *testing.T) {
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	link, err := s.Link(hapiNext, testOrigin, testBinding())
	if err != nil {
		t.Fatal(err)
	}
	prefix := testPublic + PagePath + "?"
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("Link = %q, want prefix %q", link, prefix)
	}
	q := strings.TrimPrefix(link, prefix)
	cases := []struct {
		name, q string
		ok      bool
	}{
		{"as issued", q, true},
		{"extra parameter", q + "&_count=1000", false},
		{"parameter first", "_count=1&" + q, false},
		{"repeated", q + "&" + q, false},
		{"other name", "P" + q[1:], false},
		{"percent encoded", strings.Replace(q, "p=", "p=%41", 1), false},
		{"semicolon", q + ";x=1", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openQuery(s, tc.q, testBinding())
			if tc.ok != (err == nil) {
				t.Fatalf("OpenQuery = %q, %v; ok want %v", got, err, tc.ok)
			}
			if !tc.ok && err != ErrInvalid {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if tc.ok && got != hapiNext {
				t.Fatalf("OpenQuery = %q", got)
			}
		})
	}
}

// Two instances built independently from the same key file open each
// other's links: nothing but the key file is shared.
func TestTwoInstancesShareOnlyTheKeyFile(t *testing.T) {
	path := writeKeyFile(t, testKeyText)
	clock := newClock()
	build := func() *Sealer {
		k, err := LoadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return newSealer(t, clock, k, nil)
	}
	a, b := build(), build()
	for _, tc := range []struct {
		name         string
		mint, follow *Sealer
	}{{"a to b", a, b}, {"b to a", b, a}} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.mint.Seal(hapiNext, testOrigin, testBinding())
			if err != nil {
				t.Fatal(err)
			}
			got, err := openURL(tc.follow, v, testBinding())
			if err != nil || got != hapiNext {
				t.Fatalf("Open = %q, %v", got, err)
			}
		})
	}
	// And an instance with another key refuses them as tampered.
	c := newSealer(t, clock, mustKey(t, otherKeyText), nil)
	v, _ := a.Seal(hapiNext, testOrigin, testBinding())
	if _, err := openURL(c, v, testBinding()); err != ErrInvalid {
		t.Fatalf("foreign key: %v, want ErrInvalid", err)
	}
}

func TestKeyRotation(t *testing.T) {
	clock := newClock()
	oldKey, newKey := mustKey(t, testKeyText), mustKey(t, otherKeyText)
	if oldKey.ID() == newKey.ID() {
		t.Fatal("test keys must have different ids for this test")
	}
	before := newSealer(t, clock, oldKey, nil)
	during := newSealer(t, clock, newKey, &oldKey)
	after := newSealer(t, clock, newKey, nil)
	oldLink, _ := before.Seal(hapiNext, testOrigin, testBinding())
	newLink, _ := during.Seal(hapiNext, testOrigin, testBinding())
	cases := []struct {
		name   string
		s      *Sealer
		sealed string
		want   error
	}{
		{"old link opens during rotation", during, oldLink, nil},
		{"new link opens during rotation", during, newLink, nil},
		{"new link opens after rotation", after, newLink, nil},
		{"old link refused after rotation", after, oldLink, ErrInvalid},
		{"new link refused by a not yet rotated instance", before, newLink, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openURL(tc.s, tc.sealed, testBinding()); err != tc.want {
				t.Fatalf("Open error %v, want %v", err, tc.want)
			}
		})
	}
	blob, _ := base64.RawURLEncoding.DecodeString(newLink)
	if blob[1] != newKey.ID() {
		t.Fatalf("new links must be sealed under the current key")
	}
}

// When the two keys' ids collide, both are tried.
func TestKeyIDCollision(t *testing.T) {
	clock := newClock()
	oldKey, newKey := mustKey(t, testKeyText), mustKey(t, otherKeyText)
	collided := oldKey
	collided.id = newKey.ID()
	before := newSealer(t, clock, collided, nil)
	during := newSealer(t, clock, newKey, &collided)
	v, _ := before.Seal(hapiNext, testOrigin, testBinding())
	if _, err := openURL(during, v, testBinding()); err != nil {
		t.Fatalf("Open: %v", err)
	}
}

func TestNewOptions(t *testing.T) {
	k := mustKey(t, testKeyText)
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{UpstreamBase: testUpstream, PublicBase: testPublic, Current: k}, true},
		{"trailing slash", Options{UpstreamBase: testUpstream + "/", PublicBase: testPublic + "/", Current: k}, true},
		{"no key", Options{UpstreamBase: testUpstream, PublicBase: testPublic}, false},
		{"unusable previous", Options{UpstreamBase: testUpstream, PublicBase: testPublic, Current: k, Previous: &Key{}}, false},
		{"relative upstream", Options{UpstreamBase: "/fhir", PublicBase: testPublic, Current: k}, false},
		{"ftp public", Options{UpstreamBase: testUpstream, PublicBase: "ftp://x/", Current: k}, false},
		{"query in base", Options{UpstreamBase: testUpstream + "?a=1", PublicBase: testPublic, Current: k}, false},
		{"ttl too short", Options{UpstreamBase: testUpstream, PublicBase: testPublic, Current: k, TTL: time.Millisecond}, false},
		{"ttl too long", Options{UpstreamBase: testUpstream, PublicBase: testPublic, Current: k, TTL: 25 * time.Hour}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.o)
			if tc.ok != (err == nil) {
				t.Fatalf("New error = %v, ok want %v", err, tc.ok)
			}
			if err == nil && s.TTL() != DefaultTTL {
				t.Fatalf("TTL = %s", s.TTL())
			}
		})
	}
	// A trailing slash on the bases does not double the slash.
	s, _ := New(cases[1].o)
	if l, _ := s.Link(hapiNext, testOrigin, testBinding()); !strings.HasPrefix(l, testPublic+"/_page?p=") {
		t.Fatalf("Link = %q", l)
	}
	if got, _ := openURL(s, strings.TrimPrefix(mustLink(t, s), testPublic+"/_page?p="), testBinding()); got != hapiNext {
		t.Fatalf("Open = %q", got)
	}
}

func mustLink(t *testing.T, s *Sealer) string {
	t.Helper()
	l, err := s.Link(hapiNext, testOrigin, testBinding())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The page request flow: Unseal gives the origin to decide on, Verify
// checks the binding built from that decision.
func TestUnsealThenVerify(t *testing.T) {
	clock := newClock()
	s := newSealer(t, clock, mustKey(t, testKeyText), nil)
	origins := []string{"", "?_type=Observation", "/Observation?category=laboratory&code=a%5C%2Cb", "/Patient/p-18/$everything"}
	for _, origin := range origins {
		t.Run(origin, func(t *testing.T) {
			v, err := s.Seal(hapiNext, origin, testBinding())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(v, "Observation") {
				t.Fatalf("origin in clear: %s", v)
			}
			p, err := s.Unseal(v)
			if err != nil {
				t.Fatal(err)
			}
			if p.Origin != origin || p.Upstream != hapiNext || testUpstream+p.Rest != hapiNext {
				t.Fatalf("Unseal = %+v", p)
			}
			other := testBinding()
			other.Obligations = ObligationsDigest([]byte("narrower"))
			if err := s.Verify(p, other); err != ErrBindingMismatch {
				t.Fatalf("Verify other obligations: %v", err)
			}
			if err := s.Verify(p, testBinding()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestSealOrigin(t *testing.T) {
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	cases := []struct {
		name, origin string
		ok           bool
	}{
		{"path", "/Observation", true},
		{"base", "", true},
		{"query", "?_id=1", true},
		{"absolute", "https://fhir.example/Observation", false},
		{"no slash", "Observation", false},
		{"space", "/Observation?code=a b", false},
		{"non-ASCII", "/Observation?name=\u05db", false},
		{"too long", "/Observation?code=" + strings.Repeat("a", MaxOriginLen), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Seal(hapiNext, tc.origin, testBinding())
			if tc.ok != (err == nil) {
				t.Fatalf("Seal = %v, ok want %v", err, tc.ok)
			}
			if err != nil && err != ErrOrigin {
				t.Fatalf("error %v, want ErrOrigin", err)
			}
		})
	}
}
