package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/upstreamjwt"
)

// unknownNationalID has a valid check digit but no Patient in the demo
// data.
const unknownNationalID = "000000042"

// demoCaddyfileVariant writes examples/demo/Caddyfile with extra lines
// after `base_path /fhir/R4` (inside the fhir_pep block) and returns its
// path.
func (s *stack) demoCaddyfileVariant(t *testing.T, name, extra string) string {
	t.Helper()
	demo, err := os.ReadFile(filepath.Join(s.root, "examples", "demo", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\t\tbase_path /fhir/R4\n"
	if !strings.Contains(string(demo), anchor) {
		t.Fatalf("examples/demo/Caddyfile has no line %q", strings.TrimSpace(anchor))
	}
	config := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(config, []byte(strings.Replace(string(demo), anchor, anchor+extra, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// mintedWithClaims is pcm-sim's mint answer with what introspection will
// say about the token.
type mintedWithClaims struct {
	Token         string `json:"token"`
	Introspection struct {
		ClientID string `json:"client_id"`
	} `json:"introspection"`
}

// assertionClaims is one "assertion {json}" line of the Node FHIR server
// (LOG_REQUESTS=1): the claims it verified, or why it refused.
type assertionClaims struct {
	Verified      bool     `json:"verified"`
	Reason        string   `json:"reason"`
	Method        string   `json:"method"`
	URL           string   `json:"url"`
	Alg           string   `json:"alg"`
	Kid           string   `json:"kid"`
	Iss           string   `json:"iss"`
	Sub           string   `json:"sub"`
	Aud           audience `json:"aud"`
	Patient       string   `json:"patient"`
	Scope         string   `json:"scope"`
	ConsentID     string   `json:"consent_id"`
	CorrelationID string   `json:"correlation_id"`
	Iat           int64    `json:"iat"`
	Exp           int64    `json:"exp"`
}

// audience is a JWT aud: one string or a list (RFC 7519 4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// assertionLines returns the assertion lines of a Node FHIR server log.
func assertionLines(t *testing.T, path string) []assertionClaims {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []assertionClaims
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "assertion ")
		if !ok {
			continue
		}
		var c assertionClaims
		if err := json.Unmarshal([]byte(rest), &c); err != nil {
			t.Fatalf("assertion line is not JSON: %v: %.200s", err, rest)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpstreamAssertion: fhir-pep with upstream_assertion in front of a FHIR
// server that admits only requests carrying the PEP's assertion (the Node
// server's REQUIRE_ASSERTION_JWKS, verifying against the JWKS the PEP
// serves on its health listener), as an HMO whose FHIR server enforces as
// well would deploy it. Reads, searches and their pages through the PEP are
// served, and each upstream request carried a valid assertion naming the
// patient's logical id, the caller, the consent, the scope and the
// correlation id; a request that does not come from the PEP is 401.
func TestUpstreamAssertion(t *testing.T) {
	s := stackFor(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	keyFile := filepath.Join(dir, "assertion.key")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	ports, err := freePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	pepPort, adminPort, healthPort, fhirPort := ports[0], ports[1], ports[2], ports[3]
	pepBase := fmt.Sprintf("https://localhost:%d%s", pepPort, fhirBase)
	upstreamBase := fmt.Sprintf("http://127.0.0.1:%d%s", fhirPort, fhirBase)
	// The PEP's defaults: iss is its resource, aud its upstream_base.
	issuer := pepBase

	// The FHIR server starts first: it fetches the PEP's JWKS only when the
	// first request needs it.
	cmd := nodeCommand(s.root)
	cmd.Env = append(cmd.Env,
		"PORT="+strconv.Itoa(fhirPort),
		"LOG_REQUESTS=1",
		fmt.Sprintf("REQUIRE_ASSERTION_JWKS=http://127.0.0.1:%d/health/jwks.json", healthPort),
		"REQUIRE_ASSERTION_ISS="+issuer,
	)
	fhir, err := s.start("fhir-server-assertion", cmd, regexp.MustCompile(`^ready (http://\S+) resources=\d+`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(fhir); err != nil {
			t.Error(err)
		}
	})
	if m, err := fhir.waitReady(readyWait); err != nil {
		t.Fatal(err)
	} else if m[1] != upstreamBase {
		t.Fatalf("the FHIR server serves %s, want %s", m[1], upstreamBase)
	}

	config := s.demoCaddyfileVariant(t, "Caddyfile.assertion", "\t\tupstream_assertion {\n\t\t\tkey "+keyFile+"\n\t\t}\n")
	pep, err := s.startPEPWith(config, "fhir-pep-assertion", pepPort, adminPort, filepath.Join(dir, "pep-ntn"), "INFO",
		"PEP_HEALTH_PORT="+strconv.Itoa(healthPort), "FHIR_PORT="+strconv.Itoa(fhirPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(pep); err != nil {
			t.Error(err)
		}
		// Neither the PEP nor the FHIR server logged a token, an assertion
		// or a national id.
		ids := append(slices.Clone(nationalIDs), "000000034", unknownNationalID)
		for _, log := range []string{pep.logPath, fhir.logPath} {
			if leaks := scanLog(log, s.rememberedSecrets(), ids); len(leaks) > 0 {
				t.Errorf("%s holds secrets or national ids in clear:\n%s", log, strings.Join(leaks, "\n"))
			}
		}
	})

	c := s.memberClient(t, "hospital-a")
	consentID := "PCM-CONSENT-e2e-" + randomLetters(t, 8)
	var m mintedWithClaims
	s.admin(t, s.pcmAdmin+"/admin/tokens", map[string]any{
		"patient": "000000026", "scope": labScope, "member": "hospital-a", "aud": pepBase,
		"consent_id": consentID, "consent_id_claim": true,
	}, http.StatusCreated, &m)
	if m.Token == "" || m.Introspection.ClientID == "" {
		t.Fatalf("pcm-sim minted no token or client_id: %+v", m)
	}
	s.remember(m.Token)
	patientID := s.patientIDs(t, "000000026")
	if len(patientID) != 1 {
		t.Fatalf("test data: patient 000000026 must have one Patient record, has %v", patientID)
	}
	want := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(want) < 3 {
		t.Fatalf("test data: need at least 3 lab Observations of 000000026 to page, have %v", want)
	}

	// through sends GET target to the PEP with a correlation id of its own.
	through := func(t *testing.T, token, target, correlationID string) response {
		t.Helper()
		if !strings.HasPrefix(target, "https://") {
			target = pepBase + target
		}
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Correlation-ID", correlationID)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: body}
	}
	// upstreamSaw waits for the FHIR server's assertion lines of one
	// correlation id: at least n, each verified and naming this decision.
	upstreamSaw := func(t *testing.T, correlationID string, n int) {
		t.Helper()
		var got []assertionClaims
		err := poll(10*time.Second, func() (bool, error) {
			got = slices.DeleteFunc(assertionLines(t, fhir.logPath), func(c assertionClaims) bool { return c.CorrelationID != correlationID })
			return len(got) >= n, nil
		})
		if err != nil {
			t.Fatalf("the FHIR server logged %d assertions with correlation id %s, want %d: %v", len(got), correlationID, n, err)
		}
		for _, a := range got {
			if !a.Verified {
				t.Errorf("the FHIR server refused the PEP's assertion on %s %s: %s", a.Method, a.URL, a.Reason)
				continue
			}
			wantClaims := assertionClaims{
				Verified: true, Method: a.Method, URL: a.URL, Alg: "ES256", Kid: a.Kid,
				Iss: issuer, Sub: m.Introspection.ClientID, Aud: audience{upstreamBase},
				Patient: patientID[0], Scope: labScope, ConsentID: consentID, CorrelationID: correlationID,
				Iat: a.Iat, Exp: a.Iat + 60,
			}
			if fmt.Sprint(a) != fmt.Sprint(wantClaims) {
				t.Errorf("assertion on %s %s:\n got %+v\nwant %+v", a.Method, a.URL, a, wantClaims)
			}
		}
	}

	t.Run("a read through the PEP carries the assertion", func(t *testing.T) {
		corr := "e2e-assert-read-" + randomLetters(t, 8)
		r := through(t, m.Token, "/"+want[0], corr)
		if r.status != http.StatusOK || decodeResource(t, r.body).ID != strings.TrimPrefix(want[0], "Observation/") {
			t.Fatalf("GET /%s: status %d, body %.300s", want[0], r.status, r.body)
		}
		upstreamSaw(t, corr, 1)
	})

	t.Run("a search and its pages through the PEP carry the assertion", func(t *testing.T) {
		corr := "e2e-assert-search-" + randomLetters(t, 8)
		var got []resource
		target, pages := "/Observation?_count=2", 0
		for target != "" {
			if pages > len(want) {
				t.Fatalf("more than %d pages: the next links loop", len(want))
			}
			r := through(t, m.Token, target, corr)
			if r.status != http.StatusOK {
				t.Fatalf("page %d: status %d, body %.300s", pages, r.status, r.body)
			}
			b := decodeBundle(t, r.body)
			got = append(got, b.resources()...)
			target = b.link("next")
			pages++
		}
		if pages < 2 {
			t.Fatal("one page: the page requests were not exercised")
		}
		if !slices.Equal(keys(got), want) {
			t.Fatalf("pages hold %v, want %v", keys(got), want)
		}
		upstreamSaw(t, corr, pages)
	})

	t.Run("a patient with two Patient records is refused, not asserted", func(t *testing.T) {
		if ids := s.patientIDs(t, "000000018"); len(ids) < 2 {
			t.Fatalf("test data: 000000018 must have two Patient records, has %v", ids)
		}
		var dup mintedWithClaims
		s.admin(t, s.pcmAdmin+"/admin/tokens", map[string]any{"patient": "000000018", "scope": labScope, "member": "hospital-a", "aud": pepBase}, http.StatusCreated, &dup)
		s.remember(dup.Token)
		r := through(t, dup.Token, "/Observation", "e2e-assert-dup-"+randomLetters(t, 8))
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), `"duplicate_patient"`) {
			t.Fatalf("status %d, want 403 duplicate_patient: %.300s", r.status, r.body)
		}
	})

	t.Run("an unknown patient is an empty searchset", func(t *testing.T) {
		var unknown mintedWithClaims
		s.admin(t, s.pcmAdmin+"/admin/tokens", map[string]any{"patient": unknownNationalID, "scope": labScope, "member": "hospital-a", "aud": pepBase}, http.StatusCreated, &unknown)
		s.remember(unknown.Token)
		r := through(t, unknown.Token, "/Observation", "e2e-assert-unknown-"+randomLetters(t, 8))
		if r.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %.300s", r.status, r.body)
		}
		if got := decodeBundle(t, r.body).resources(); len(got) != 0 {
			t.Fatalf("resources for an unknown patient: %v", keys(got))
		}
	})

	// Direct requests, as anybody on the FHIR server's network could send
	// them. The first is signed with the PEP's own key and must pass: the
	// refusals after it are then down to what each one changes.
	sign := func(t *testing.T, keyPEM []byte, now time.Time, aud string) string {
		t.Helper()
		signer, err := upstreamjwt.NewSigner(upstreamjwt.Config{KeyPEM: keyPEM, Issuer: issuer, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		jwt, err := signer.Sign(upstreamjwt.Decision{Subject: m.Introspection.ClientID, Audience: aud, Patient: patientID[0], Scope: labScope, ConsentID: consentID})
		if err != nil {
			t.Fatal(err)
		}
		s.remember(jwt)
		return jwt
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherDER, err := x509.MarshalPKCS8PrivateKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER})
	direct := []struct {
		name   string
		auth   func(t *testing.T) string
		status int
	}{
		{"signed with the PEP's key (control)", func(t *testing.T) string { return "Bearer " + sign(t, keyPEM, time.Now(), upstreamBase) }, http.StatusOK},
		{"without an assertion", func(*testing.T) string { return "" }, http.StatusUnauthorized},
		{"with an expired assertion", func(t *testing.T) string {
			return "Bearer " + sign(t, keyPEM, time.Now().Add(-2*time.Minute), upstreamBase)
		}, http.StatusUnauthorized},
		{"signed by another key", func(t *testing.T) string { return "Bearer " + sign(t, otherPEM, time.Now(), upstreamBase) }, http.StatusUnauthorized},
		{"signed by another key under the PEP's kid", func(t *testing.T) string {
			ours, theirs := strings.Split(sign(t, keyPEM, time.Now(), upstreamBase), "."), strings.Split(sign(t, otherPEM, time.Now(), upstreamBase), ".")
			return "Bearer " + ours[0] + "." + theirs[1] + "." + theirs[2]
		}, http.StatusUnauthorized},
		{"with another aud", func(t *testing.T) string {
			return "Bearer " + sign(t, keyPEM, time.Now(), "http://127.0.0.1:1"+fhirBase)
		}, http.StatusUnauthorized},
		{"with the caller's own PCM token", func(*testing.T) string { return "Bearer " + m.Token }, http.StatusUnauthorized},
	}
	for _, tc := range direct {
		t.Run("direct request "+tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, upstreamBase+"/"+want[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			if a := tc.auth(t); a != "" {
				req.Header.Set("Authorization", a)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, body)
			}
		})
	}

	t.Run("a direct patient lookup tells no more than ids", func(t *testing.T) {
		form := url.Values{"identifier": {nationalIDSystem + "|000000026"}, "_count": {"50"}}
		resp, err := http.Post(upstreamBase+"/Patient/_search", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
		var b struct {
			Entry []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) != 1 {
			t.Fatalf("want one Patient: %v %.300s", err, body)
		}
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range b.Entry[0].Resource {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(got, []string{"id", "identifier", "resourceType"}) {
			t.Fatalf("a lookup without an assertion returned Patient members %v", got)
		}
	})
}
