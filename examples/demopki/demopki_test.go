package demopki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func ensureAt(t *testing.T, dir string, now time.Time) *Index {
	t.Helper()
	ix, err := Generator{Dir: dir, Now: fixedClock(now)}.Ensure()
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return ix
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := LoadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestEnsureChains(t *testing.T) {
	ix := ensureAt(t, t.TempDir(), t0)
	ta := mustCert(t, ix.NTN.TrustAnchor.Cert)
	tlsCA := mustCert(t, ix.TLS.CA.Cert)

	t.Run("download cert chains to the NTN trust anchor", func(t *testing.T) {
		dl := mustCert(t, ix.NTN.Download.Cert)
		if _, err := dl.Verify(x509.VerifyOptions{Roots: pool(ta), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("verify: %v", err)
		}
		if _, err := dl.Verify(x509.VerifyOptions{Roots: pool(tlsCA), CurrentTime: t0}); err == nil {
			t.Fatal("download cert must not chain to the TLS CA")
		}
	})
	for _, name := range []string{ServerPEP, ServerPCM, ServerNTN} {
		for _, host := range []string{"localhost", "127.0.0.1", "::1", name + ".localhost"} {
			t.Run("server "+name+" for "+host, func(t *testing.T) {
				c := mustCert(t, ix.TLS.Servers[name].Cert)
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool(tlsCA), CurrentTime: t0, DNSName: host}); err != nil {
					t.Fatalf("verify: %v", err)
				}
			})
		}
	}
	clientCases := []struct {
		name, member string
		selfSigned   bool
		inNTN        bool
		expired      bool
	}{
		{name: "hmo-b", member: "org-ds-hmo-b", inNTN: true},
		{name: "hospital-a", member: "org-sp-hospital-a", inNTN: true},
		{name: "hospital-a-expired", member: "org-sp-hospital-a", inNTN: true, expired: true},
		{name: "clinic-c", member: "org-sp-clinic-c", selfSigned: true, inNTN: true},
		{name: "unknown", member: "org-sp-unknown", selfSigned: true},
	}
	for _, tc := range clientCases {
		t.Run("client "+tc.name, func(t *testing.T) {
			c, ok := ix.Clients[tc.name]
			if !ok {
				t.Fatalf("client %s missing from index", tc.name)
			}
			if c.MemberID != tc.member || c.InNTN != tc.inNTN || c.Expired != tc.expired {
				t.Fatalf("index entry = %+v", c)
			}
			cert := mustCert(t, c.Cert)
			if got := Thumbprint(cert); got != c.Thumbprint || len(got) != 43 {
				t.Fatalf("thumbprint %q, index says %q", got, c.Thumbprint)
			}
			if cert.Subject.CommonName != tc.member {
				t.Fatalf("CN = %q", cert.Subject.CommonName)
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Fatalf("key is not ECDSA P-256: %T", cert.PublicKey)
			}
			roots := pool(cert)
			if !tc.selfSigned {
				m, ok := ix.Member(tc.member)
				if !ok || m.CA == nil {
					t.Fatalf("member %s has no CA", tc.member)
				}
				roots = pool(mustCert(t, m.CA.Cert))
			}
			_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if tc.expired != (err != nil) {
				t.Fatalf("verify at t0: err = %v, expired = %v", err, tc.expired)
			}
			if tc.expired {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: cert.NotAfter.Add(-time.Minute), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					t.Fatalf("expired cert must chain within its validity: %v", err)
				}
			}
		})
	}
	t.Run("members in the manifest", func(t *testing.T) {
		var ids []string
		for _, m := range ix.Members {
			ids = append(ids, m.MemberID)
		}
		want := []string{"org-ds-hmo-b", "org-sp-hospital-a", "org-sp-clinic-c"}
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("members = %v, want %v", ids, want)
		}
		clinic, _ := ix.Member("org-sp-clinic-c")
		if clinic.CA != nil || len(clinic.Pinned) != 1 || clinic.Pinned[0] != ix.Clients["clinic-c"].Cert {
			t.Fatalf("clinic-c must be pinned only: %+v", clinic)
		}
	})
	t.Run("private keys are 0600", func(t *testing.T) {
		n := 0
		err := filepath.WalkDir(ix.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !strings.HasSuffix(path, ".key") {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v", path, info.Mode().Perm())
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(demoSpecs()) {
			t.Fatalf("found %d keys, want %d", n, len(demoSpecs()))
		}
	})
}

// snapshot reads every file of the state directory.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestEnsureIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	first := ensureAt(t, dir, t0)
	before := snapshot(t, dir)
	second := ensureAt(t, dir, t0.Add(24*time.Hour))
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("index changed:\n%+v\n%+v", first, second)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Fatalf("file count %d -> %d", len(before), len(after))
	}
	for path, b := range before {
		if !bytes.Equal(b, after[path]) {
			t.Errorf("%s was rewritten", path)
		}
	}
}

func TestEnsureRepairs(t *testing.T) {
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, ix *Index)
		at       time.Time
		changed  []string // clients whose certificate must change
		keepsTAs bool
	}{
		{
			name:     "missing member CA key reissues the CA's certificates only",
			breakIt:  func(t *testing.T, ix *Index) { mustRemove(t, ix.Members[1].CA.Key) },
			at:       t0,
			changed:  []string{"hospital-a", "hospital-a-expired"},
			keepsTAs: true,
		},
		{
			name:     "corrupt pinned certificate is replaced",
			breakIt:  func(t *testing.T, ix *Index) { mustWrite(t, ix.Clients["clinic-c"].Cert, "garbage") },
			at:       t0,
			changed:  []string{"clinic-c"},
			keepsTAs: true,
		},
		{
			name:     "key of another certificate is replaced",
			breakIt:  func(t *testing.T, ix *Index) { mustCopy(t, ix.Clients["unknown"].Key, ix.Clients["hmo-b"].Key) },
			at:       t0,
			changed:  []string{"hmo-b"},
			keepsTAs: true,
		},
		{
			name:     "leaves close to expiry are renewed, CAs kept",
			breakIt:  func(*testing.T, *Index) {},
			at:       t0.Add(leafLifetime - renewBefore + time.Hour),
			changed:  []string{"hmo-b", "hospital-a", "clinic-c", "unknown"},
			keepsTAs: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			before := ensureAt(t, dir, t0)
			taBefore := mustCert(t, before.NTN.TrustAnchor.Cert)
			tc.breakIt(t, before)
			after := ensureAt(t, dir, tc.at)
			for name, c := range after.Clients {
				want := false
				for _, n := range tc.changed {
					want = want || n == name
				}
				if got := c.Thumbprint != before.Clients[name].Thumbprint; got != want {
					t.Errorf("client %s changed = %v, want %v", name, got, want)
				}
			}
			if tc.keepsTAs && !mustCert(t, after.NTN.TrustAnchor.Cert).Equal(taBefore) {
				t.Error("trust anchor was replaced")
			}
			if _, err := after.MemberTrust(); err != nil {
				t.Fatalf("repaired PKI does not load: %v", err)
			}
		})
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ix := ensureAt(t, dir, t0)
	for _, path := range []string{dir, filepath.Join(dir, IndexFile)} {
		t.Run(path, func(t *testing.T) {
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ix) {
				t.Fatalf("Load = %+v, want %+v", got, ix)
			}
		})
	}
	bad := []struct{ name, content string }{
		{"not json", "{"},
		{"empty object", "{}"},
		{"no clients", `{"ntn":{"trust_anchor":{"cert":"a"},"download":{"cert":"b","key":"c"}},"tls":{"ca":{"cert":"d"},"servers":{"pep":{}}},"members":[{}]}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), IndexFile)
			mustWrite(t, path, tc.content)
			if _, err := Load(path); err == nil {
				t.Fatal("Load accepted a bad index")
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Load accepted a missing file")
	}
}

func TestFindClient(t *testing.T) {
	ix := ensureAt(t, t.TempDir(), t0)
	tests := []struct {
		ref, want string
		ok        bool
	}{
		{ref: "hospital-a-expired", want: "hospital-a-expired", ok: true},
		{ref: ix.Clients["clinic-c"].Thumbprint, want: "clinic-c", ok: true},
		{ref: "org-sp-hospital-a", want: "hospital-a", ok: true},
		{ref: "org-ds-hmo-b", want: "hmo-b", ok: true},
		{ref: "org-sp-unknown", ok: false}, // not in the NTN
		{ref: "nobody", ok: false},
		{ref: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			got, ok := ix.FindClient(tc.ref)
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if ok && got != ix.Clients[tc.want] {
				t.Fatalf("got %+v, want %s", got, tc.want)
			}
		})
	}
}

func TestMemberTrustIdentify(t *testing.T) {
	ix := ensureAt(t, t.TempDir(), t0)
	mt, err := ix.MemberTrust()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		client, want string
		at           time.Time
	}{
		{client: "hmo-b", want: "org-ds-hmo-b", at: t0},
		{client: "hospital-a", want: "org-sp-hospital-a", at: t0},
		{client: "clinic-c", want: "org-sp-clinic-c", at: t0},
		{client: "hospital-a-expired", at: t0},
		{client: "unknown", at: t0},
		{client: "clinic-c", at: t0.Add(2 * leafLifetime)},
		{client: "hospital-a", at: t0.Add(-48 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.client+" at "+tc.at.Format(time.DateOnly), func(t *testing.T) {
			got, err := mt.Identify([]*x509.Certificate{mustCert(t, ix.Clients[tc.client].Cert)}, tc.at)
			if tc.want == "" {
				if !errors.Is(err, ErrNotMember) {
					t.Fatalf("Identify = %q, %v; want ErrNotMember", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Identify = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("empty chain", func(t *testing.T) {
		if _, err := mt.Identify(nil, t0); !errors.Is(err, ErrNotMember) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTLSHandshake(t *testing.T) {
	ix := ensureAt(t, t.TempDir(), time.Now())
	mt, err := ix.MemberTrust()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		client string
		ok     bool
	}{
		{client: "hmo-b", ok: true},
		{client: "clinic-c", ok: true},
		{client: "unknown", ok: false},
		{client: "hospital-a-expired", ok: false},
		{client: "", ok: false},
	}
	for _, tc := range tests {
		t.Run("client "+tc.client, func(t *testing.T) {
			srvCfg, err := ix.ServerTLSConfig(ServerPCM, mt, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			cliCfg, err := ix.ClientTLSConfig(tc.client)
			if err != nil {
				t.Fatal(err)
			}
			cliCfg.ServerName = "localhost"
			a, b := net.Pipe()
			srv := tls.Server(a, srvCfg)
			done := make(chan error, 1)
			go func() {
				done <- srv.Handshake()
				srv.Close()
			}()
			cli := tls.Client(b, cliCfg)
			cliErr := cli.Handshake()
			if cliErr == nil {
				// TLS 1.3 reports a rejected client certificate on first read.
				_, cliErr = cli.Read(make([]byte, 1))
			}
			cli.Close()
			srvErr := <-done
			if tc.ok != (srvErr == nil) {
				t.Fatalf("server handshake err = %v, client err = %v", srvErr, cliErr)
			}
		})
	}
	if _, err := ix.ServerTLSConfig("nope", mt, time.Now); err == nil {
		t.Fatal("unknown server name accepted")
	}
	if _, err := ix.ClientTLSConfig("nope"); err == nil {
		t.Fatal("unknown client name accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"ntn":{"trust_anchor":{"cert":"a"},"download":{"cert":"b","key":"c"}},"tls":{"ca":{"cert":"d"},"servers":{"pep":{}}},"members":[{}],"clients":{"x":{}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), IndexFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ix, err := Load(path)
		if err == nil && (ix.NTN.Download.Key == "" || len(ix.Clients) == 0 || len(ix.Members) == 0) {
			t.Fatalf("Load accepted an incomplete index: %+v", ix)
		}
	})
}

func BenchmarkIdentify(b *testing.B) {
	ix, err := Generator{Dir: b.TempDir(), Now: fixedClock(t0)}.Ensure()
	if err != nil {
		b.Fatal(err)
	}
	mt, err := ix.MemberTrust()
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"hospital-a", "clinic-c"} {
		cert, err := LoadCertificate(ix.Clients[name].Cert)
		if err != nil {
			b.Fatal(err)
		}
		chain := []*x509.Certificate{cert}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mt.Identify(chain, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
