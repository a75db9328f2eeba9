package upstreamjwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var (
	testRSAKey  *rsa.PrivateKey
	testECKey   *ecdsa.PrivateKey
	t0          = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	testOrigin  = "https://fhir.hmo-b.example/R4"
	testIssuer  = "https://pep.hmo-b.example"
	testSubject = "http://pcm.fhir.health.gov.il/organization/633"
)

func init() {
	var err error
	if testRSAKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if testECKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
}

func pkcs8PEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func sec1PEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func pkcs1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// clock is an injected, settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// verifier is what an upstream does: it knows only the JWKS URL, fetches
// the key set, and checks signature, iss, aud and time.
type verifier struct {
	keys jose.JSONWebKeySet
}

func fetchVerifier(t *testing.T, jwksURL string) *verifier {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("JWKS answer %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var v verifier
	if err := json.NewDecoder(resp.Body).Decode(&v.keys); err != nil {
		t.Fatal(err)
	}
	return &v
}

func (v *verifier) verify(token, audience string, now time.Time) (*Claims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("want one signature")
	}
	keys := v.keys.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, errors.New("unknown kid")
	}
	if keys[0].Algorithm != tok.Headers[0].Algorithm {
		return nil, errors.New("alg does not match the key")
	}
	var c Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{audience}, Time: now}, 0); err != nil {
		return nil, err
	}
	return &c, nil
}

func TestJWKSRoundTrip(t *testing.T) {
	keys := []struct {
		name string
		pem  func(t *testing.T) []byte
		alg  string
	}{
		{"EC PKCS#8", func(t *testing.T) []byte { return pkcs8PEM(t, testECKey) }, "ES256"},
		{"EC SEC1", func(t *testing.T) []byte { return sec1PEM(t, testECKey) }, "ES256"},
		{"RSA PKCS#8", func(t *testing.T) []byte { return pkcs8PEM(t, testRSAKey) }, "RS256"},
		{"RSA PKCS#1", func(t *testing.T) []byte { return pkcs1PEM(testRSAKey) }, "RS256"},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			clk := &clock{t: t0}
			s, err := NewSigner(Config{KeyPEM: k.pem(t), Issuer: testIssuer, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			if s.Algorithm() != k.alg {
				t.Fatalf("alg = %s, want %s", s.Algorithm(), k.alg)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			v := fetchVerifier(t, srv.URL)

			d := Decision{
				Subject: testSubject, Audience: testOrigin, Patient: "pat-18",
				Scope: "patient/Observation.rs", ConsentID: "PCM-CONSENT-0001",
				Baskets:       []Basket{{Code: "laboratoryTests", System: "http://fhir.health.gov.il/cs/il-hdp-information-buckets", HistoricalDepth: "2024-01-01"}},
				CorrelationID: "corr-1",
			}
			token, err := s.Sign(d)
			if err != nil {
				t.Fatal(err)
			}

			c, err := v.verify(token, testOrigin, t0.Add(59*time.Second))
			if err != nil {
				t.Fatalf("fresh assertion refused: %v", err)
			}
			if c.Subject != d.Subject || c.Patient != d.Patient || c.Scope != d.Scope || c.ConsentID != d.ConsentID ||
				c.CorrelationID != d.CorrelationID || len(c.Baskets) != 1 || c.Baskets[0] != d.Baskets[0] || c.ID == "" {
				t.Errorf("claims = %+v", c)
			}
			if got := c.Expiry.Time().Sub(c.IssuedAt.Time()); got != Lifetime {
				t.Errorf("exp - iat = %v, want %v", got, Lifetime)
			}
			if !c.IssuedAt.Time().Equal(t0) {
				t.Errorf("iat = %v, want the injected clock %v", c.IssuedAt.Time(), t0)
			}

			if _, err := v.verify(token, testOrigin, t0.Add(61*time.Second)); !errors.Is(err, jwt.ErrExpired) {
				t.Errorf("expired assertion: err = %v, want ErrExpired", err)
			}
			if _, err := v.verify(token, "https://other.example/R4", t0); !errors.Is(err, jwt.ErrInvalidAudience) {
				t.Errorf("wrong audience: err = %v, want ErrInvalidAudience", err)
			}

			// Flip one bit of the signature.
			parts := strings.Split(token, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[0] ^= 1
			forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			if _, err := v.verify(forged, testOrigin, t0); err == nil {
				t.Error("tampered signature accepted")
			}
		})
	}
}

func TestOtherKeyWithSameKIDRefused(t *testing.T) {
	s, err := NewSigner(Config{KeyPEM: pkcs8PEM(t, testECKey), Issuer: testIssuer, Now: (&clock{t0}).now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	v := fetchVerifier(t, srv.URL)

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: other},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.KeyID()))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(js).Claims(Claims{Claims: jwt.Claims{
		Issuer: testIssuer, Audience: jwt.Audience{testOrigin},
		IssuedAt: jwt.NewNumericDate(t0), Expiry: jwt.NewNumericDate(t0.Add(time.Minute)),
	}, Patient: "p"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.verify(token, testOrigin, t0); err == nil {
		t.Error("assertion signed by another key accepted")
	}
}

// TestKeyIDIsRFC7638Thumbprint recomputes the thumbprint by hand, from the
// RFC 7638 section 3.2 member order, so a change in go-jose cannot change
// the kid unnoticed.
func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	pad := func(b []byte, n int) []byte { return append(make([]byte, n-len(b)), b...) }
	ecJSON := `{"crv":"P-256","kty":"EC","x":"` + b64(pad(testECKey.X.Bytes(), 32)) + `","y":"` + b64(pad(testECKey.Y.Bytes(), 32)) + `"}`
	e := big64(testRSAKey.E)
	rsaJSON := `{"e":"` + b64(e) + `","kty":"RSA","n":"` + b64(testRSAKey.N.Bytes()) + `"}`
	tests := []struct {
		name string
		key  crypto.Signer
		json string
	}{
		{"EC", testECKey, ecJSON},
		{"RSA", testRSAKey, rsaJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(Config{KeyPEM: pkcs8PEM(t, tt.key), Issuer: testIssuer})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(tt.json))
			if want := b64(sum[:]); s.KeyID() != want {
				t.Errorf("kid = %s, want %s", s.KeyID(), want)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(s.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys", len(set.Keys))
			}
			k := set.Keys[0]
			if k["kid"] != s.KeyID() || k["alg"] != s.Algorithm() || k["use"] != "sig" {
				t.Errorf("JWK = %v", k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS publishes private member %q", private)
				}
			}
		})
	}
}

// big64 is the minimal big-endian encoding of the RSA exponent.
func big64(e int) []byte {
	var out []byte
	for ; e > 0; e >>= 8 {
		out = append([]byte{byte(e)}, out...)
	}
	return out
}

func TestNewSignerRefuses(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	certLike := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})
	tests := []struct {
		name   string
		pem    []byte
		issuer string
		want   string
	}{
		{"no issuer", pkcs8PEM(t, testECKey), "", "issuer is required"},
		{"not PEM", []byte("not a key"), testIssuer, "no PEM block"},
		{"certificate", certLike, testIssuer, "not a private key"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), testIssuer, "parse private key"},
		{"P-384", pkcs8PEM(t, p384), testIssuer, "must be P-256"},
		{"RSA 1024", pkcs8PEM(t, smallRSA), testIssuer, "shorter than 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(Config{KeyPEM: tt.pem, Issuer: tt.issuer})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestSignRefuses(t *testing.T) {
	good := Decision{Subject: "s", Audience: "a", Patient: "p"}
	tests := []struct {
		name string
		rand io.Reader
		d    Decision
		want string
	}{
		{"no subject", nil, Decision{Audience: "a", Patient: "p"}, "required"},
		{"no audience", nil, Decision{Subject: "s", Patient: "p"}, "required"},
		{"no patient", nil, Decision{Subject: "s", Audience: "a"}, "required"},
		{"no randomness", failingReader{}, good, "random jti"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(Config{KeyPEM: pkcs8PEM(t, testECKey), Issuer: testIssuer, Rand: tt.rand})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.Sign(tt.d)
			if err == nil || tok != "" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign = (%q, %v), want an error containing %q", tok, err, tt.want)
			}
		})
	}
}

func TestBasketsClaim(t *testing.T) {
	s, err := NewSigner(Config{KeyPEM: pkcs8PEM(t, testECKey), Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		baskets []Basket
		want    string // the baskets member, "" for none
	}{
		{"token without baskets", nil, ""},
		{"no bucket granted", []Basket{}, `"baskets":[]`},
		{"one bucket", []Basket{{Code: "laboratoryTests"}}, `"baskets":[{"code":"laboratoryTests"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Sign(Decision{Subject: "s", Audience: "a", Patient: "p", Baskets: tt.baskets})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			has := bytes.Contains(payload, []byte(`"baskets"`))
			if tt.want == "" && has || tt.want != "" && !bytes.Contains(payload, []byte(tt.want)) {
				t.Errorf("payload %s: want baskets member %q", payload, tt.want)
			}
		})
	}
}

func TestJWKSHandlerMethods(t *testing.T) {
	s, err := NewSigner(Config{KeyPEM: pkcs8PEM(t, testECKey), Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method   string
		status   int
		wantBody bool
	}{
		{http.MethodGet, 200, true},
		{http.MethodHead, 200, false},
		{http.MethodPost, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tt.method, "/.well-known/jwks.json", nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := bytes.Equal(rec.Body.Bytes(), s.JWKS()); got != tt.wantBody {
				t.Errorf("body is the JWKS: %v, want %v", got, tt.wantBody)
			}
		})
	}
}
