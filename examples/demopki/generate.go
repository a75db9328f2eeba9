package demopki

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Generator creates the demo PKI in Dir, reusing every certificate that is
// still good (see Ensure).
type Generator struct {
	Dir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Ensure creates or reuses the demo PKI in dir and writes pki.json.
func Ensure(dir string) (*Index, error) {
	return Generator{Dir: dir}.Ensure()
}

// Ensure makes the state directory hold a complete, consistent demo PKI and
// returns its index. It is idempotent: an existing certificate and key are
// kept when they still match their spec, chain to the current issuer and are
// not about to expire; anything else (and everything it issued) is replaced.
func (g Generator) Ensure() (*Index, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	dir, err := filepath.Abs(g.Dir)
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	done := map[string]*issued{}
	for _, spec := range demoSpecs() {
		var parent *issued
		if spec.issuer != "" {
			parent = done[spec.issuer]
		}
		got, err := ensureCert(dir, spec, parent, now())
		if err != nil {
			return nil, fmt.Errorf("demopki: %s: %w", spec.path, err)
		}
		done[spec.path] = got
	}
	ix, err := buildIndex(dir, done)
	if err != nil {
		return nil, err
	}
	if err := ix.save(); err != nil {
		return nil, fmt.Errorf("demopki: write index: %w", err)
	}
	return ix, nil
}

func ensureCert(dir string, spec certSpec, parent *issued, now time.Time) (*issued, error) {
	p := pairOf(dir, spec.path)
	if existing, err := loadIssued(p); err == nil && reusable(spec, existing, parent, now) == nil {
		// Repair a key that was copied around with a lax mode.
		if err := os.Chmod(p.Key, 0o600); err != nil {
			return nil, err
		}
		return existing, nil
	}
	fresh, err := issue(spec, parent, now)
	if err != nil {
		return nil, err
	}
	// Key first: a certificate on disk always has its key beside it.
	if err := writePrivateKey(p.Key, fresh.key); err != nil {
		return nil, err
	}
	if err := writeCertificate(p.Cert, fresh.cert.Raw); err != nil {
		return nil, err
	}
	return fresh, nil
}

func loadIssued(p Pair) (*issued, error) {
	cert, err := LoadCertificate(p.Cert)
	if err != nil {
		return nil, err
	}
	key, err := LoadPrivateKey(p.Key)
	if err != nil {
		return nil, err
	}
	return &issued{cert: cert, key: key}, nil
}

func pairOf(dir, path string) Pair {
	base := filepath.Join(dir, filepath.FromSlash(path))
	return Pair{Cert: base + ".crt", Key: base + ".key"}
}

func buildIndex(dir string, done map[string]*issued) (*Index, error) {
	ix := &Index{
		Dir: dir,
		NTN: NTNFiles{
			TrustAnchor: pairOf(dir, pathTrustAnchor),
			Download:    pairOf(dir, pathDownload),
		},
		TLS:     TLSFiles{CA: pairOf(dir, pathTLSCA), Servers: map[string]Pair{}},
		Clients: map[string]Client{},
	}
	for _, name := range demoServers {
		ix.TLS.Servers[name] = pairOf(dir, "tls/"+name)
	}
	for _, m := range demoMembers {
		member := Member{MemberID: m.id, Name: m.name, Role: m.role}
		if m.ownCA {
			ca := pairOf(dir, memberCAPath(m))
			member.CA = &ca
		}
		for _, c := range m.clients {
			path := clientPath(m, c)
			got, ok := done[path]
			if !ok {
				return nil, fmt.Errorf("demopki: %s was not generated", path)
			}
			p := pairOf(dir, path)
			if !m.ownCA && m.listed {
				member.Pinned = append(member.Pinned, p.Cert)
			}
			ix.Clients[c.name] = Client{
				MemberID:   m.id,
				Cert:       p.Cert,
				Key:        p.Key,
				Thumbprint: Thumbprint(got.cert),
				InNTN:      m.listed,
				Expired:    c.expired,
			}
		}
		if m.listed {
			ix.Members = append(ix.Members, member)
		}
	}
	return ix, nil
}
