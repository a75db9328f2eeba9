package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults of AuditEventConfig.
const (
	DefaultQueueSize   = 10000
	DefaultWorkers     = 2
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 4
)

// maxDrainBytes bounds how much of an audit server's answer is read (and
// discarded) so the connection can be reused.
const maxDrainBytes = 64 << 10

// AuditEventConfig configures NewAuditEventSink.
type AuditEventConfig struct {
	// Endpoint is the FHIR base URL of the audit repository; records are
	// POSTed to Endpoint + "/AuditEvent". http or https only.
	Endpoint string
	// Client is used for every POST. It is supplied by the caller and may
	// carry mTLS, or a RoundTripper that adds authorization. Required.
	Client *http.Client
	// Profile says how this data source appears in the AuditEvents. At
	// least DataSourceMemberID or DataSourceName must be set.
	Profile AuditEventProfile

	// QueueSize bounds the records waiting for delivery; when full, new
	// records are dropped. Default DefaultQueueSize.
	QueueSize int
	// Workers deliver in parallel. Default DefaultWorkers.
	Workers int
	// Timeout bounds each POST attempt. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is the number of POSTs per record, retries included.
	// Transport errors, timeouts, 5xx and 429 are retried; other
	// statuses are not. Default DefaultMaxAttempts.
	MaxAttempts int
	// Backoff returns the pause before retry n (1 for the first retry).
	// Default DefaultBackoff.
	Backoff func(retry int) time.Duration
	// Logger receives delivery failures (decision id and reason, never
	// record contents). Default: no logging.
	Logger *zap.Logger
}

// DefaultBackoff is exponential from 250 ms, capped at 5 s, with jitter
// in the upper half so that workers retrying together spread out.
func DefaultBackoff(retry int) time.Duration {
	d := 5 * time.Second
	if retry >= 1 && retry <= 5 {
		d = 250 * time.Millisecond << (retry - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// AuditEventSink converts records to FHIR R4 AuditEvents (see
// AuditEventProfile.Encode) and POSTs them asynchronously through a
// bounded queue. Write never blocks: it enqueues or, when the queue is
// full, drops the record and returns ErrQueueFull.
//
// Delivery is at least once per accepted record while the sink runs: a
// retry after a timeout may store a record twice, so consumers should
// deduplicate on the decision entity's identifier.
type AuditEventSink struct {
	url         string
	client      *http.Client
	profile     AuditEventProfile
	timeout     time.Duration
	maxAttempts int
	backoff     func(int) time.Duration
	logger      *zap.Logger

	// mu orders Write's send against Close's close(queue).
	mu     sync.RWMutex
	closed bool
	queue  chan Record

	// ctx is cancelled when Close's deadline passes, to abandon delivery.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// abandoned counts records given up because of Close's deadline.
	abandoned atomic.Int64

	report atomic.Pointer[func(error)]
}

// NewAuditEventSink validates cfg and starts the delivery workers. They
// run until Close.
func NewAuditEventSink(cfg AuditEventConfig) (*AuditEventSink, error) {
	if cfg.Client == nil {
		return nil, errors.New("audit: AuditEvent sink needs an HTTP client")
	}
	base, err := url.Parse(cfg.Endpoint)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, errors.New("audit: AuditEvent endpoint must be an absolute http(s) URL")
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("audit: AuditEvent endpoint must not have a query or fragment")
	}
	if cfg.Profile.DataSourceMemberID == "" && cfg.Profile.DataSourceName == "" {
		return nil, errors.New("audit: AuditEvent sink needs the data source member id or name")
	}
	if cfg.QueueSize < 0 || cfg.Workers < 0 || cfg.Timeout < 0 || cfg.MaxAttempts < 0 {
		return nil, errors.New("audit: AuditEvent sink sizes and timeouts must not be negative")
	}
	s := &AuditEventSink{
		url:         strings.TrimRight(cfg.Endpoint, "/") + "/AuditEvent",
		client:      cfg.Client,
		profile:     cfg.Profile.withDefaults(),
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		maxAttempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		backoff:     cfg.Backoff,
		logger:      cfg.Logger,
		queue:       make(chan Record, orDefault(cfg.QueueSize, DefaultQueueSize)),
		done:        make(chan struct{}),
	}
	if s.backoff == nil {
		s.backoff = DefaultBackoff
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	workers := orDefault(cfg.Workers, DefaultWorkers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(s.work)
	}
	go func() {
		wg.Wait()
		s.cancel()
		close(s.done)
	}()
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// OnDelivery implements AsyncSink.
func (s *AuditEventSink) OnDelivery(report func(error)) {
	s.report.Store(&report)
}

// Write enqueues r. It returns ErrQueueFull when the queue is full and an
// *Error with ReasonClosed after Close; nil means accepted, not yet
// delivered.
func (s *AuditEventSink) Write(_ context.Context, r Record) error {
	r.ConsentRefs = slices.Clone(r.ConsentRefs) // the caller may reuse its slice
	r.Baskets = slices.Clone(r.Baskets)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &Error{Reason: ReasonClosed}
	}
	select {
	case s.queue <- r:
		return nil
	default:
		return ErrQueueFull
	}
}

// Pending returns the number of records waiting in the queue.
func (s *AuditEventSink) Pending() int {
	return len(s.queue)
}

// Close stops accepting records and waits until the queue is delivered
// or ctx ends. In the latter case, delivery is abandoned: the request in
// flight is cancelled and every record not yet delivered is reported
// with ReasonShutdown; Close then returns an *Error with ReasonShutdown.
// Later calls wait the same way and return the same kind of result.
func (s *AuditEventSink) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done // quick: every worker now sees a cancelled context
		// The deadline may have passed just as the last record went
		// out; only records actually abandoned make Close fail.
		if n := s.abandoned.Load(); n > 0 {
			return &Error{Reason: ReasonShutdown, Err: fmt.Errorf("%d records not delivered: %w", n, ctx.Err())}
		}
		return nil
	}
}

func (s *AuditEventSink) work() {
	for r := range s.queue {
		attempts, err := s.deliver(r)
		if ReasonOf(err) == ReasonShutdown {
			s.abandoned.Add(1)
		}
		if err != nil {
			s.logger.Warn("audit event not delivered",
				zap.String("decision_id", r.DecisionID),
				zap.String("reason", ReasonOf(err)),
				zap.Int("attempts", attempts),
				zap.Error(err))
		}
		if report := s.report.Load(); report != nil {
			(*report)(err)
		}
	}
}

// deliver POSTs r, retrying transient failures. It returns the number of
// attempts made and the final error.
func (s *AuditEventSink) deliver(r Record) (int, error) {
	if s.ctx.Err() != nil {
		return 0, &Error{Reason: ReasonShutdown}
	}
	body, err := s.profile.Encode(r)
	if err != nil {
		return 0, &Error{Reason: ReasonEncode, Err: err}
	}
	for attempt := 1; ; attempt++ {
		retry, err := s.post(body)
		if err == nil || !retry || attempt >= s.maxAttempts {
			return attempt, err
		}
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return attempt, &Error{Reason: ReasonShutdown, Err: err}
		}
	}
}

// post makes one attempt and says whether a failure is worth retrying.
func (s *AuditEventSink) post(body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, &Error{Reason: ReasonTransport, Err: err}
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Prefer", "return=minimal")
	resp, err := s.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case s.ctx.Err() != nil:
			return false, &Error{Reason: ReasonShutdown, Err: err}
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return true, &Error{Reason: ReasonTimeout, Err: err}
		default:
			return true, &Error{Reason: ReasonTransport, Err: err}
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
		return true, &Error{Reason: ReasonServerError, Err: fmt.Errorf("HTTP status %d", resp.StatusCode)}
	default:
		return false, &Error{Reason: ReasonRejected, Err: fmt.Errorf("HTTP status %d", resp.StatusCode)}
	}
}
