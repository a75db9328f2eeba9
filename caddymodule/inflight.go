package caddymodule

import (
	"sync"
	"sync/atomic"
	"time"
)

// inflightCloseBound is how long a cleaned-up PEP waits for its requests
// still in flight before it closes its auditor anyway. Reverse proxy and
// PCM timeouts end almost every request long before; the bound is for a
// request stuck on a dead connection, which must not keep the old
// configuration's auditor (and its AuditEvent queue) alive for ever.
const inflightCloseBound = 2 * time.Minute

// inflight counts the requests a PEP is serving, so that Cleanup can
// close the auditor only after the last of them has written its record.
//
// A config reload cleans the old configuration up at once, without waiting
// for its requests (Caddy waits for them only when the process exits). The
// old PEP's requests keep running to the end and record their decisions;
// closing the auditor under them answered a request that had already been
// proxied 503 (audit required) or, worse, 200 with no audit record at all.
//
// Provision makes it; the methods of a nil *inflight (a PEP that was never
// provisioned) count nothing and report idle.
type inflight struct {
	n       atomic.Int64
	closing atomic.Bool
	once    sync.Once
	idle    chan struct{} // closed once closing and no request in flight
	// audited is closed when Cleanup has closed the auditor; tests wait
	// on it instead of sleeping.
	audited     chan struct{}
	auditedOnce sync.Once
}

func newInflight() *inflight {
	return &inflight{idle: make(chan struct{}), audited: make(chan struct{})}
}

func (f *inflight) closedAuditor() {
	if f != nil {
		f.auditedOnce.Do(func() { close(f.audited) })
	}
}

func (f *inflight) setIdle() { f.once.Do(func() { close(f.idle) }) }

func (f *inflight) enter() {
	if f != nil {
		f.n.Add(1)
	}
}

func (f *inflight) leave() {
	if f != nil && f.n.Add(-1) == 0 && f.closing.Load() {
		f.setIdle()
	}
}

// close marks the PEP as cleaned up and reports whether no request is in
// flight; when some are, idle is closed as the last one leaves. Either
// order of close and the last leave closes idle: leave reads closing after
// its decrement, close reads the count after setting closing.
func (f *inflight) close() (idleNow bool) {
	if f == nil {
		return true
	}
	f.closing.Store(true)
	if f.n.Load() == 0 {
		f.setIdle()
		return true
	}
	return false
}
