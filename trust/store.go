package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults for StoreOptions.
const (
	DefaultRefresh      = 5 * time.Minute
	DefaultMaxStaleness = 24 * time.Hour
	DefaultTimeout      = 30 * time.Second
	DefaultErrorAfter   = 3
)

// initialBackoff is the first retry delay after a failed refresh; it
// doubles with each consecutive failure up to the refresh interval.
const initialBackoff = 30 * time.Second

// jitterFraction spreads refreshes of many data sources over time (±10%).
const jitterFraction = 0.10

// StoreOptions configure a Store.
type StoreOptions struct {
	// Source fetches the manifest JWS. Required.
	Source Source
	// TrustAnchors are the NTN trust anchor certificates. Required.
	TrustAnchors []*x509.Certificate
	// StateDir holds the state file (last accepted manifest, version and
	// time of the last successful refresh). Empty disables persistence,
	// and with it rollback protection across restarts.
	StateDir string
	// Refresh is the interval between refreshes. Default 5m.
	Refresh time.Duration
	// MaxStaleness is how long after the last successful refresh the
	// manifest is still trusted. Default 24h.
	MaxStaleness time.Duration
	// Timeout bounds one refresh (all HTTP requests included). Default 30s.
	Timeout time.Duration
	// ErrorAfter is the number of consecutive failures after which each
	// failure is logged at Error instead of Warn. Default 3.
	ErrorAfter int
	// Logger receives refresh outcomes. Default: no logging.
	Logger *zap.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Stats is a point-in-time view of a Store, for metrics and status output.
type Stats struct {
	// HasManifest is false until a manifest has been accepted (or loaded
	// from state_dir).
	HasManifest bool
	// Stale is true when the current manifest may not be used (see
	// Store.VerifyLeaf); always true without a manifest.
	Stale               bool
	Version             int64
	IssuedAt            time.Time
	ExpiresAt           time.Time
	Signer              string
	ActiveMembers       int
	TrustedCertificates int
	// LastSuccess is when a manifest was last fetched and verified (zero
	// if never). It survives restarts through state_dir.
	LastSuccess         time.Time
	LastFailure         time.Time
	LastFailureReason   Reason
	ConsecutiveFailures int
	// Failures counts failed refreshes (and state write failures) by reason.
	Failures map[Reason]uint64
}

// Store owns the current manifest snapshot: it fetches, verifies and
// persists manifests, enforces version monotonicity and staleness, and
// answers "is this client certificate trusted?" from the current snapshot.
// Readers never block and never see a half-built snapshot: the snapshot
// pointer is swapped atomically after the new one is complete.
type Store struct {
	source       Source
	anchors      []*x509.Certificate
	stateDir     string
	refresh      time.Duration
	maxStaleness time.Duration
	timeout      time.Duration
	errorAfter   int
	now          func() time.Time
	jitter       func() float64
	logger       atomic.Pointer[zap.Logger]

	snap        atomic.Pointer[Snapshot]
	lastSuccess atomic.Int64 // UnixNano of the last successful refresh; 0 = never

	// refreshMu serializes refreshes and guards the fields below it.
	refreshMu   sync.Mutex
	floor       int64  // last accepted version: nothing lower is ever accepted
	lastPayload []byte // payload of the last accepted manifest
	lastRaw     []byte // JWS of the last accepted manifest

	statsMu     sync.Mutex
	failures    map[Reason]uint64
	consecutive int
	lastFailure time.Time
	lastReason  Reason

	subsMu  sync.Mutex
	subs    map[uint64]func(old, next *Snapshot)
	nextSub uint64
}

// NewStore validates opts, fills in defaults and loads the state file from
// StateDir if there is one. It does no network I/O. A state file that
// cannot be read is an error (delete it to reset rollback protection); a
// stored manifest that no longer verifies (expired, trust anchor changed)
// is logged and skipped, but its version still bounds what is accepted.
func NewStore(opts StoreOptions) (*Store, error) {
	if opts.Source == nil {
		return nil, errors.New("ntn store: a source is required")
	}
	if len(opts.TrustAnchors) == 0 {
		return nil, errors.New("ntn store: at least one trust anchor is required")
	}
	if opts.Refresh < 0 || opts.MaxStaleness < 0 || opts.Timeout < 0 || opts.ErrorAfter < 0 {
		return nil, errors.New("ntn store: durations and counts must not be negative")
	}
	s := &Store{
		source:       opts.Source,
		anchors:      append([]*x509.Certificate(nil), opts.TrustAnchors...),
		stateDir:     opts.StateDir,
		refresh:      orDefault(opts.Refresh, DefaultRefresh),
		maxStaleness: orDefault(opts.MaxStaleness, DefaultMaxStaleness),
		timeout:      orDefault(opts.Timeout, DefaultTimeout),
		errorAfter:   opts.ErrorAfter,
		now:          opts.Now,
		jitter:       rand.Float64,
		failures:     make(map[Reason]uint64),
		subs:         make(map[uint64]func(old, next *Snapshot)),
	}
	if s.errorAfter == 0 {
		s.errorAfter = DefaultErrorAfter
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.SetLogger(opts.Logger)
	if s.stateDir != "" {
		if err := s.loadState(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// SetLogger replaces the logger (nil: no logging). A Store can outlive
// the configuration whose logger it was built with, so its owner hands
// over the current one.
func (s *Store) SetLogger(l *zap.Logger) {
	if l == nil {
		l = zap.NewNop()
	}
	s.logger.Store(l)
}

func (s *Store) log() *zap.Logger { return s.logger.Load() }

func (s *Store) loadState() error {
	st, err := readState(s.stateDir)
	if err != nil || st == nil {
		return err
	}
	now := s.now()
	s.floor = st.version
	s.lastRaw = st.manifest
	s.lastPayload = compactPayload(st.manifest)
	last := st.lastSuccess
	if last.After(now) {
		last = now
	}
	s.lastSuccess.Store(last.UnixNano())
	m, err := Verify(st.manifest, VerifyOptions{TrustAnchors: s.anchors, Now: now})
	if err != nil {
		s.log().Warn("stored NTN manifest no longer verifies; no client certificate is trusted until a fresh manifest is fetched",
			zap.String("reason", string(ReasonOf(err))), zap.Int64("version", st.version), zap.Error(err))
		return nil
	}
	if m.Version != st.version {
		return newError(ReasonState, "state file version %d does not match its manifest version %d", st.version, m.Version)
	}
	s.lastPayload = m.Payload
	s.snap.Store(NewSnapshot(m))
	s.log().Info("loaded NTN manifest from state_dir",
		zap.Int64("version", m.Version), zap.Time("expires_at", m.ExpiresAt), zap.Time("last_success", last))
	return nil
}

// compactPayload extracts the payload of a compact JWS without verifying
// it; used only to compare payloads for equality.
func compactPayload(jws []byte) []byte {
	parts := bytes.Split(bytes.TrimSpace(jws), []byte("."))
	if len(parts) != 3 {
		return nil
	}
	p, err := base64.RawURLEncoding.AppendDecode(nil, parts[1])
	if err != nil {
		return nil
	}
	return p
}

// Snapshot returns the current snapshot, stale or not; nil before the
// first accepted manifest. Use VerifyLeaf for trust decisions: it also
// applies staleness.
func (s *Store) Snapshot() *Snapshot { return s.snap.Load() }

// Stale reports whether the current manifest may not be used: there is
// none, it is past expires_at, or the last successful refresh is older
// than MaxStaleness.
func (s *Store) Stale() bool { return s.staleAt(s.snap.Load(), s.now()) != nil }

func (s *Store) staleAt(snap *Snapshot, now time.Time) error {
	if snap == nil {
		return &Error{Reason: ReasonNoManifest}
	}
	if !now.Before(snap.expiresAt) {
		return newError(ReasonStale, "manifest version %d expired at %s", snap.version, snap.expiresAt.Format(time.RFC3339))
	}
	last := s.lastSuccess.Load()
	if last == 0 || now.Sub(time.Unix(0, last)) > s.maxStaleness {
		return newError(ReasonStale, "no successful refresh within max_staleness (%s)", s.maxStaleness)
	}
	return nil
}

// VerifyLeaf decides whether a client certificate is trusted now: the
// manifest must exist and be fresh, then Snapshot.VerifyLeaf decides.
func (s *Store) VerifyLeaf(leaf *x509.Certificate, intermediates []*x509.Certificate) (string, error) {
	snap, now := s.snap.Load(), s.now()
	if err := s.staleAt(snap, now); err != nil {
		return "", err
	}
	return snap.VerifyLeaf(leaf, intermediates, now)
}

// VerifyRawChain is VerifyLeaf for DER certificates from a TLS handshake.
func (s *Store) VerifyRawChain(rawCerts [][]byte) (string, error) {
	snap, now := s.snap.Load(), s.now()
	if err := s.staleAt(snap, now); err != nil {
		return "", err
	}
	return snap.VerifyRawChain(rawCerts, now)
}

// Subscribe registers fn to be called after every snapshot swap with the
// previous snapshot (nil for the first) and the new one. Calls are made
// one at a time on the refreshing goroutine, after the swap, so fn sees
// the new snapshot already in force. The returned func unsubscribes.
func (s *Store) Subscribe(fn func(old, next *Snapshot)) (unsubscribe func()) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.subsMu.Lock()
		defer s.subsMu.Unlock()
		delete(s.subs, id)
	}
}

func (s *Store) notify(old, next *Snapshot) {
	s.subsMu.Lock()
	fns := make([]func(old, next *Snapshot), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subsMu.Unlock()
	for _, fn := range fns {
		fn(old, next)
	}
}

// Refresh fetches, verifies and, if it is newer, installs a manifest. It
// is what Run calls on every tick; tests call it directly. A manifest with
// the version already accepted and the same payload is a successful no-op.
// On any failure the current snapshot stays as it is. Refreshes are
// serialized.
func (s *Store) Refresh(ctx context.Context) error {
	swapped, old, next, err := s.refreshLocked(ctx)
	if err != nil {
		return s.recordFailure(ctx, err)
	}
	if swapped {
		s.notify(old, next)
	}
	return nil
}

func (s *Store) refreshLocked(ctx context.Context) (swapped bool, old, next *Snapshot, err error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()

	fetchCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.source.Fetch(fetchCtx)
	if err != nil {
		return false, nil, nil, err
	}
	now := s.now()
	m, err := Verify(raw, VerifyOptions{TrustAnchors: s.anchors, Now: now})
	if err != nil {
		return false, nil, nil, err
	}
	old = s.snap.Load()
	switch {
	case m.Version < s.floor:
		return false, nil, nil, newError(ReasonRollback, "version %d is lower than the accepted version %d", m.Version, s.floor)
	case m.Version == s.floor && !bytes.Equal(m.Payload, s.lastPayload):
		return false, nil, nil, newError(ReasonVersionConflict, "version %d was already accepted with a different payload", m.Version)
	case m.Version == s.floor && old != nil:
		s.markSuccess(now)
		s.persist(now)
		s.log().Debug("NTN manifest unchanged", zap.Int64("version", m.Version))
		return false, nil, nil, nil
	}
	next = NewSnapshot(m)
	next.rememberDeparted(old)
	s.snap.Store(next)
	s.floor, s.lastPayload, s.lastRaw = m.Version, m.Payload, m.Raw
	s.markSuccess(now)
	s.persist(now)
	s.log().Info("accepted NTN manifest",
		zap.Int64("version", m.Version),
		zap.Time("issued_at", m.IssuedAt),
		zap.Time("expires_at", m.ExpiresAt),
		zap.Int("active_members", next.ActiveMembers()),
		zap.Int("trusted_certificates", next.TrustedCertificates()),
		zap.Strings("removed_members", RemovedMembers(old, next)))
	return true, old, next, nil
}

func (s *Store) markSuccess(now time.Time) {
	s.lastSuccess.Store(now.UnixNano())
	s.statsMu.Lock()
	recovered := s.consecutive
	s.consecutive = 0
	s.statsMu.Unlock()
	if recovered > 0 {
		s.log().Info("NTN manifest refresh recovered", zap.Int("failed_attempts", recovered))
	}
}

// persist writes the state file. It never lowers the version on disk
// (another Store sharing state_dir may be ahead during a config reload).
// A failure does not undo the swap: a verified newer manifest, which may
// revoke members, must take effect even if the disk is full.
func (s *Store) persist(now time.Time) {
	if s.stateDir == "" {
		return
	}
	if onDisk, err := readState(s.stateDir); err == nil && onDisk != nil && onDisk.version > s.floor {
		s.log().Warn("state_dir holds a newer NTN manifest version than this instance; not overwriting it",
			zap.Int64("on_disk", onDisk.version), zap.Int64("accepted", s.floor))
		return
	}
	err := writeState(s.stateDir, loadedState{version: s.floor, lastSuccess: now, manifest: s.lastRaw})
	if err != nil {
		s.statsMu.Lock()
		s.failures[ReasonState]++
		s.statsMu.Unlock()
		s.log().Error("cannot persist NTN manifest state; rollback protection across restarts is degraded",
			zap.String("state_dir", s.stateDir), zap.Error(err))
	}
}

func (s *Store) recordFailure(ctx context.Context, err error) error {
	reason := ReasonOf(err)
	if reason == "" {
		reason = ReasonFetch
		err = wrapError(ReasonFetch, err)
	}
	if reason == ReasonCanceled && ctx.Err() != nil {
		return err // shutting down, not a failure of NTN
	}
	s.statsMu.Lock()
	s.failures[reason]++
	s.consecutive++
	s.lastFailure = s.now()
	s.lastReason = reason
	n := s.consecutive
	s.statsMu.Unlock()

	fields := []zap.Field{
		zap.String("reason", string(reason)),
		zap.Int("consecutive_failures", n),
		zap.Int64("current_version", s.currentVersion()),
		zap.Error(err),
	}
	if n >= s.errorAfter {
		s.log().Error("NTN manifest refresh keeps failing; the current manifest stays in force until it is stale", fields...)
	} else {
		s.log().Warn("NTN manifest refresh failed", fields...)
	}
	return err
}

func (s *Store) currentVersion() int64 {
	if snap := s.snap.Load(); snap != nil {
		return snap.version
	}
	return 0
}

// Stats returns a consistent copy of the Store's counters and manifest facts.
func (s *Store) Stats() Stats {
	snap, now := s.snap.Load(), s.now()
	st := Stats{Stale: s.staleAt(snap, now) != nil}
	if snap != nil {
		st.HasManifest = true
		st.Version = snap.version
		st.IssuedAt = snap.issuedAt
		st.ExpiresAt = snap.expiresAt
		st.Signer = snap.signer
		st.ActiveMembers = snap.activeMembers
		st.TrustedCertificates = snap.trustedCerts
	}
	if last := s.lastSuccess.Load(); last != 0 {
		st.LastSuccess = time.Unix(0, last)
	}
	s.statsMu.Lock()
	st.LastFailure = s.lastFailure
	st.LastFailureReason = s.lastReason
	st.ConsecutiveFailures = s.consecutive
	st.Failures = maps.Clone(s.failures)
	s.statsMu.Unlock()
	return st
}

// Run refreshes until ctx is done: immediately, then every Refresh
// interval (±10% jitter) while refreshes succeed, and after a failure
// with a backoff that starts at 30s and doubles up to the interval. It
// logs once when the manifest becomes stale and once when it is fresh again.
func (s *Store) Run(ctx context.Context) {
	wasStale := false
	for {
		err := s.Refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		staleErr := s.staleAt(s.snap.Load(), s.now())
		switch {
		case staleErr != nil && !wasStale:
			s.log().Error("NTN manifest is stale or missing: every client certificate is rejected until a fresh manifest is verified",
				zap.String("reason", string(ReasonOf(staleErr))), zap.Error(staleErr))
		case staleErr == nil && wasStale:
			s.log().Info("NTN manifest is fresh again", zap.Int64("version", s.currentVersion()))
		}
		wasStale = staleErr != nil

		failures := 0
		if err != nil {
			s.statsMu.Lock()
			failures = s.consecutive
			s.statsMu.Unlock()
		}
		timer := time.NewTimer(retryDelay(failures, s.refresh, s.jitter()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// retryDelay is the wait before the next refresh: the refresh interval
// after a success, or initialBackoff doubled per consecutive failure
// (capped at the interval) after failures; both spread by ±10% using
// jitter, a number in [0, 1).
func retryDelay(consecutiveFailures int, refresh time.Duration, jitter float64) time.Duration {
	base := refresh
	if consecutiveFailures > 0 {
		base = initialBackoff
		for i := 1; i < consecutiveFailures && base < refresh; i++ {
			base *= 2
		}
		base = min(base, refresh)
	}
	spread := (jitter*2 - 1) * jitterFraction * float64(base)
	return base + time.Duration(spread)
}
