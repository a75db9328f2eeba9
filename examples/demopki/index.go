// Package demopki generates and loads the throw-away PKI of the fhir-pep demo
// stack: the NTN trust anchor and its manifest "download" signing certificate,
// a TLS server CA with server certificates for the PEP and the two simulators,
// and the client certificates of the demo NTN members.
//
// Nothing here is meant for production: keys are written unencrypted (mode
// 0600) into a state directory and are regenerated whenever they are missing,
// expiring or no longer chain to their issuer.
package demopki

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// IndexFile is the name of the index written into the state directory.
const IndexFile = "pki.json"

// Pair names a PEM certificate file and its PEM (PKCS #8) private key file.
type Pair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// NTNFiles are the national trusted network's own certificates.
type NTNFiles struct {
	// TrustAnchor is the root the PEP is configured with (trust_anchor).
	TrustAnchor Pair `json:"trust_anchor"`
	// Download signs the member manifest; it is issued by TrustAnchor.
	Download Pair `json:"download"`
}

// TLSFiles are the server side of every TLS connection in the demo.
type TLSFiles struct {
	// CA issues the server certificates; clients trust it as their root.
	CA Pair `json:"ca"`
	// Servers maps "pep", "pcm" and "ntn" to their server certificates.
	Servers map[string]Pair `json:"servers"`
}

// Member is one organization listed in the NTN manifest.
type Member struct {
	MemberID string `json:"member_id"`
	Name     string `json:"name"`
	// Role is "data-source" or "service-provider".
	Role string `json:"role"`
	// CA is the member's own issuing CA, listed in the manifest with use "ca".
	CA *Pair `json:"ca,omitempty"`
	// Pinned are certificate files listed in the manifest with use "tls".
	Pinned []string `json:"pinned,omitempty"`
}

// Client is one client certificate, used for mTLS and, for the data source,
// to sign private_key_jwt client assertions.
type Client struct {
	MemberID string `json:"member_id"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	// Thumbprint is the x5t#S256 value: base64url (no padding) of the
	// SHA-256 of the certificate's DER.
	Thumbprint string `json:"x5t#S256"`
	// InNTN tells whether the manifest trusts this certificate.
	InNTN bool `json:"in_ntn"`
	// Expired marks the certificate deliberately issued already expired.
	Expired bool `json:"expired"`
}

// Index is the content of pki.json: every file of the demo PKI by role.
// Paths are absolute.
type Index struct {
	Dir     string            `json:"dir"`
	NTN     NTNFiles          `json:"ntn"`
	TLS     TLSFiles          `json:"tls"`
	Members []Member          `json:"members"`
	Clients map[string]Client `json:"clients"`
}

// Load reads an index from path, which is either a pki.json file or the state
// directory that holds one.
func Load(path string) (*Index, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, IndexFile)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demopki: read index: %w", err)
	}
	var ix Index
	if err := json.Unmarshal(raw, &ix); err != nil {
		return nil, fmt.Errorf("demopki: parse index %s: %w", path, err)
	}
	if err := ix.validate(); err != nil {
		return nil, fmt.Errorf("demopki: index %s: %w", path, err)
	}
	return &ix, nil
}

func (ix *Index) validate() error {
	if ix.NTN.TrustAnchor.Cert == "" || ix.NTN.Download.Cert == "" || ix.NTN.Download.Key == "" {
		return errors.New("missing NTN files")
	}
	if ix.TLS.CA.Cert == "" || len(ix.TLS.Servers) == 0 {
		return errors.New("missing TLS files")
	}
	if len(ix.Members) == 0 || len(ix.Clients) == 0 {
		return errors.New("no members or clients")
	}
	return nil
}

func (ix *Index) save() error {
	raw, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(ix.Dir, IndexFile), append(raw, '\n'), 0o644)
}

// Member returns the member with the given id.
func (ix *Index) Member(memberID string) (Member, bool) {
	i := slices.IndexFunc(ix.Members, func(m Member) bool { return m.MemberID == memberID })
	if i < 0 {
		return Member{}, false
	}
	return ix.Members[i], true
}

// FindClient looks a client certificate up by its name in pki.json (for
// example "hospital-a"), by its x5t#S256 thumbprint, or by member id; a
// member id selects that member's certificate that is in the NTN manifest and
// not expired.
func (ix *Index) FindClient(ref string) (Client, bool) {
	if c, ok := ix.Clients[ref]; ok {
		return c, true
	}
	for _, name := range ix.clientNames() {
		if c := ix.Clients[name]; c.Thumbprint == ref {
			return c, true
		}
	}
	for _, name := range ix.clientNames() {
		if c := ix.Clients[name]; c.MemberID == ref && c.InNTN && !c.Expired {
			return c, true
		}
	}
	return Client{}, false
}

// clientNames returns the client names sorted, so lookups are deterministic.
func (ix *Index) clientNames() []string {
	names := make([]string, 0, len(ix.Clients))
	for name := range ix.Clients {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
