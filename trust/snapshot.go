package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"slices"
	"time"

	"github.com/hdp-il/fhir-pep/internal/thumbprint"
)

// Snapshot is the immutable, indexed form of one verified manifest. It is
// built once per accepted manifest and then only read, so any number of
// goroutines may use it without locks.
type Snapshot struct {
	version       int64
	issuedAt      time.Time
	expiresAt     time.Time
	signer        string
	members       map[string]*memberEntry
	memberOrder   []*memberEntry
	pins          map[[sha256.Size]byte][]pinEntry
	caBySubject   map[string][]*memberEntry
	activeMembers int
	trustedCerts  int
	// departed indexes, with status removed, the members that earlier
	// manifests listed and this one does not (see rememberDeparted).
	departed *Snapshot
	// chains remembers the chains x509.Verify accepted (chainmemo.go).
	chains chainMemo
}

type memberEntry struct {
	id          string
	name        string
	status      Status
	roots       *x509.CertPool // this member's "ca" certificates, and nothing else
	caCount     int
	thumbprints []string // base64url SHA-256 of this member's "tls" certificates
}

type pinEntry struct {
	member *memberEntry
	cert   *x509.Certificate
}

// MemberInfo describes one member of a snapshot.
type MemberInfo struct {
	ID     string
	Name   string
	Status Status
	// PinnedCertificates and CACertificates count the member's "tls" and
	// "ca" entries.
	PinnedCertificates int
	CACertificates     int
}

// NewSnapshot indexes a verified manifest. The manifest must not be
// modified afterwards.
func NewSnapshot(m *Manifest) *Snapshot {
	s := &Snapshot{
		version:     m.Version,
		issuedAt:    m.IssuedAt,
		expiresAt:   m.ExpiresAt,
		members:     make(map[string]*memberEntry, len(m.Members)),
		pins:        make(map[[sha256.Size]byte][]pinEntry),
		caBySubject: make(map[string][]*memberEntry),
	}
	if m.Signer != nil {
		s.signer = m.Signer.Subject.String()
	}
	for _, mem := range m.Members {
		e := &memberEntry{id: mem.ID, name: mem.Name, status: mem.Status, roots: x509.NewCertPool()}
		for _, c := range mem.Certificates {
			switch c.Use {
			case UseTLS:
				sum := sha256.Sum256(c.Certificate.Raw)
				s.pins[sum] = append(s.pins[sum], pinEntry{member: e, cert: c.Certificate})
				e.thumbprints = append(e.thumbprints, thumbprint.Encode(sum))
			case UseCA:
				e.roots.AddCert(c.Certificate)
				e.caCount++
				key := string(c.Certificate.RawSubject)
				if !slices.Contains(s.caBySubject[key], e) {
					s.caBySubject[key] = append(s.caBySubject[key], e)
				}
			}
		}
		slices.Sort(e.thumbprints)
		e.thumbprints = slices.Compact(e.thumbprints)
		s.members[e.id] = e
		s.memberOrder = append(s.memberOrder, e)
		if e.status == StatusActive {
			s.activeMembers++
			s.trustedCerts += len(e.thumbprints) + e.caCount
		}
	}
	return s
}

// Version is the manifest version; it strictly increases from one accepted
// snapshot to the next, so it also serves as the snapshot's generation.
func (s *Snapshot) Version() int64 { return s.version }

// IssuedAt is the manifest's issued_at.
func (s *Snapshot) IssuedAt() time.Time { return s.issuedAt }

// ExpiresAt is the manifest's expires_at.
func (s *Snapshot) ExpiresAt() time.Time { return s.expiresAt }

// Signer is the subject of the certificate that signed the manifest.
func (s *Snapshot) Signer() string { return s.signer }

// ActiveMembers counts members with status active.
func (s *Snapshot) ActiveMembers() int { return s.activeMembers }

// TrustedCertificates counts the pinned and CA certificates of active members.
func (s *Snapshot) TrustedCertificates() int { return s.trustedCerts }

// Member returns one member by id.
func (s *Snapshot) Member(id string) (MemberInfo, bool) {
	e, ok := s.members[id]
	if !ok {
		return MemberInfo{}, false
	}
	return e.info(), true
}

// Members lists all members in manifest order.
func (s *Snapshot) Members() []MemberInfo {
	out := make([]MemberInfo, 0, len(s.memberOrder))
	for _, e := range s.memberOrder {
		out = append(out, e.info())
	}
	return out
}

func (e *memberEntry) info() MemberInfo {
	return MemberInfo{
		ID: e.id, Name: e.name, Status: e.status,
		PinnedCertificates: len(e.thumbprints), CACertificates: e.caCount,
	}
}

// Thumbprints returns the base64url (unpadded) SHA-256 thumbprints of the
// member's pinned "tls" certificates, sorted; nil for an unknown member.
func (s *Snapshot) Thumbprints(memberID string) []string {
	e, ok := s.members[memberID]
	if !ok {
		return nil
	}
	return slices.Clone(e.thumbprints)
}

// VerifyLeaf decides whether a client certificate belongs to an active
// member at now. It is trusted when exactly one member matches it, that
// member is active, the certificate is within its validity period, and
// either its SHA-256 equals one of the member's "tls" certificates or it
// chains (through the given intermediates) to one of the member's "ca"
// certificates, with the clientAuth extended key usage. Only the member's
// own CA certificates are roots; system roots never are. A snapshot past
// its expires_at trusts nobody.
//
// The member id is returned with member_inactive, expired and
// not_yet_valid errors too, for logging.
func (s *Snapshot) VerifyLeaf(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (string, error) {
	if err := s.usable(now); err != nil {
		return "", err
	}
	if leaf == nil {
		return "", &Error{Reason: ReasonNoCertificate}
	}
	return s.verify(leaf, intermediates, Digest(leaf), now)
}

// VerifyRawChain is VerifyLeaf for DER certificates as presented in a TLS
// handshake (leaf first). A pinned leaf is not parsed at all: its DER is
// identical to the manifest's copy, which is used instead.
func (s *Snapshot) VerifyRawChain(rawCerts [][]byte, now time.Time) (string, error) {
	if err := s.usable(now); err != nil {
		return "", err
	}
	if len(rawCerts) == 0 {
		return "", &Error{Reason: ReasonNoCertificate}
	}
	sum := sha256.Sum256(rawCerts[0])
	var leaf *x509.Certificate
	if pins := s.pins[sum]; len(pins) > 0 {
		leaf = pins[0].cert
	} else {
		var err error
		if leaf, err = x509.ParseCertificate(rawCerts[0]); err != nil {
			return "", wrapError(ReasonBadCertificate, err)
		}
	}
	var intermediates []*x509.Certificate
	if len(rawCerts) > 1 {
		intermediates = make([]*x509.Certificate, 0, len(rawCerts)-1)
		for _, der := range rawCerts[1:] {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return "", wrapError(ReasonBadCertificate, err)
			}
			intermediates = append(intermediates, c)
		}
	}
	return s.verify(leaf, intermediates, sum, now)
}

func (s *Snapshot) usable(now time.Time) error {
	if s == nil {
		return &Error{Reason: ReasonNoManifest}
	}
	if !now.Before(s.expiresAt) {
		return newError(ReasonStale, "manifest version %d expired at %s", s.version, s.expiresAt.Format(time.RFC3339))
	}
	return nil
}

func (s *Snapshot) verify(leaf *x509.Certificate, intermediates []*x509.Certificate, sum [sha256.Size]byte, now time.Time) (string, error) {
	var matched []*memberEntry
	for _, p := range s.pins[sum] {
		if !slices.Contains(matched, p.member) {
			matched = append(matched, p.member)
		}
	}
	var chainErr error
	candidates := s.caCandidates(leaf, intermediates)
	if len(candidates) > 0 && leaf.IsCA {
		// A member CA is trusted to issue client certificates, not to be one.
		candidates, chainErr = nil, errors.New("a CA certificate cannot be a client certificate")
	}
	if len(candidates) > 0 {
		opts := x509.VerifyOptions{
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if len(intermediates) > 0 {
			opts.Intermediates = x509.NewCertPool()
			for _, c := range intermediates {
				opts.Intermediates.AddCert(c)
			}
		}
		for _, m := range candidates {
			if slices.Contains(matched, m) {
				continue
			}
			key := newChainKey(sum, intermediates, m)
			if s.chains.verified(key, now) {
				matched = append(matched, m)
				continue
			}
			opts.Roots = m.roots
			chains, err := leaf.Verify(opts)
			if err != nil {
				chainErr = err
				continue
			}
			s.chains.remember(key, chains[0])
			matched = append(matched, m)
		}
	}

	switch {
	case len(matched) > 1:
		// The same certificate (or CA) listed under several members: whose
		// is it? Refuse rather than guess.
		return "", newError(ReasonAmbiguousMember, "certificate matches %d members", len(matched))
	case len(matched) == 0 && chainErr != nil:
		return "", classifyChainError(leaf, chainErr, now)
	case len(matched) == 0:
		return s.departedMember(leaf, intermediates, sum, now)
	}
	m := matched[0]
	if m.status != StatusActive {
		return m.id, newError(ReasonMemberInactive, "member status is %s", m.status)
	}
	if now.Before(leaf.NotBefore) {
		return m.id, &Error{Reason: ReasonNotYetValid}
	}
	if now.After(leaf.NotAfter) {
		return m.id, &Error{Reason: ReasonExpired}
	}
	return m.id, nil
}

// departedMember answers for a certificate no current member claims: when
// it belonged to a member that an earlier manifest listed and this one
// does not, it is refused as member_inactive with that member's id (NTN
// removes a member by dropping it from the manifest, and the operator must
// see which member was removed); otherwise it is unknown_certificate.
func (s *Snapshot) departedMember(leaf *x509.Certificate, intermediates []*x509.Certificate, sum [sha256.Size]byte, now time.Time) (string, error) {
	if s.departed != nil {
		if id, err := s.departed.verify(leaf, intermediates, sum, now); id != "" && ReasonOf(err) == ReasonMemberInactive {
			return id, newError(ReasonMemberInactive, "member %s is no longer in the manifest", id)
		}
	}
	return "", &Error{Reason: ReasonUnknownCertificate}
}

// rememberDeparted records the members that prev listed (or itself
// remembered) and s does not, with their pinned and CA certificates and
// status removed, so that s.departedMember can name them. It must be
// called before s is shared. The memory lasts while the member stays
// absent and is bounded by the members seen since the process started; it
// is not kept in state_dir, so after a restart a member removed earlier is
// unknown_certificate again. It only ever changes the reason of a refusal,
// never whether a certificate is trusted.
func (s *Snapshot) rememberDeparted(prev *Snapshot) {
	if prev == nil {
		return
	}
	gone := &Snapshot{
		members:     map[string]*memberEntry{},
		pins:        map[[sha256.Size]byte][]pinEntry{},
		caBySubject: map[string][]*memberEntry{},
		expiresAt:   s.expiresAt,
	}
	copies := map[*memberEntry]*memberEntry{}
	departed := func(e *memberEntry) *memberEntry {
		if _, listed := s.members[e.id]; listed {
			return nil
		}
		if c, ok := copies[e]; ok {
			return c
		}
		c := &memberEntry{id: e.id, name: e.name, status: StatusRemoved, roots: e.roots, caCount: e.caCount, thumbprints: e.thumbprints}
		copies[e] = c
		gone.members[c.id] = c
		gone.memberOrder = append(gone.memberOrder, c)
		return c
	}
	for _, from := range []*Snapshot{prev, prev.departed} {
		if from == nil {
			continue
		}
		for sum, pins := range from.pins {
			for _, p := range pins {
				if c := departed(p.member); c != nil {
					gone.pins[sum] = append(gone.pins[sum], pinEntry{member: c, cert: p.cert})
				}
			}
		}
		for subject, members := range from.caBySubject {
			for _, e := range members {
				if c := departed(e); c != nil && !slices.Contains(gone.caBySubject[subject], c) {
					gone.caBySubject[subject] = append(gone.caBySubject[subject], c)
				}
			}
		}
	}
	if len(gone.members) > 0 {
		s.departed = gone
	}
}

// caCandidates returns the members with a CA certificate whose subject
// issued the leaf or one of the presented intermediates: only those can
// possibly verify, so a handshake costs at most a few x509.Verify calls
// however large the manifest.
func (s *Snapshot) caCandidates(leaf *x509.Certificate, intermediates []*x509.Certificate) []*memberEntry {
	if len(s.caBySubject) == 0 {
		return nil
	}
	var out []*memberEntry
	add := func(issuer []byte) {
		for _, m := range s.caBySubject[string(issuer)] {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	add(leaf.RawIssuer)
	for _, c := range intermediates {
		add(c.RawIssuer)
	}
	return out
}

func classifyChainError(leaf *x509.Certificate, err error, now time.Time) error {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil && invalid.Cert.Equal(leaf) {
		if now.Before(leaf.NotBefore) {
			return wrapError(ReasonNotYetValid, err)
		}
		return wrapError(ReasonExpired, err)
	}
	return wrapError(ReasonChain, err)
}

// RemovedThumbprints returns the base64url (unpadded) SHA-256 thumbprints
// of pinned certificates that old trusted and next does not (gone, member
// no longer active, or moved to another member), sorted. Either snapshot
// may be nil. Certificates trusted through a member CA cannot be listed;
// callers must still re-check every peer with VerifyLeaf.
func RemovedThumbprints(old, next *Snapshot) []string {
	if old == nil {
		return nil
	}
	var out []string
	for sum, pins := range old.pins {
		owner := pinOwner(pins)
		if owner == nil || owner.status != StatusActive {
			continue // not trusted by old in the first place
		}
		if next != nil {
			if n := pinOwner(next.pins[sum]); n != nil && n.status == StatusActive && n.id == owner.id {
				continue
			}
		}
		out = append(out, thumbprint.Encode(sum))
	}
	slices.Sort(out)
	return out
}

// pinOwner returns the single member that pins a certificate, or nil when
// none or several do.
func pinOwner(pins []pinEntry) *memberEntry {
	if len(pins) == 0 {
		return nil
	}
	owner := pins[0].member
	for _, p := range pins[1:] {
		if p.member != owner {
			return nil
		}
	}
	return owner
}

// RemovedMembers returns the ids of members active in old and not active
// (or absent) in next, sorted.
func RemovedMembers(old, next *Snapshot) []string {
	if old == nil {
		return nil
	}
	var out []string
	for id, e := range old.members {
		if e.status != StatusActive {
			continue
		}
		if next != nil {
			if n, ok := next.members[id]; ok && n.status == StatusActive {
				continue
			}
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
