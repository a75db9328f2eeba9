package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

// auditServer is a fake FHIR audit repository. Each POST takes the next
// status from statuses (the last one repeats); when gate is set, the
// handler announces the request on arrived and then waits for gate (or
// for the request to be cancelled).
type auditServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests []capturedRequest
	gate     chan struct{}
	arrived  chan struct{}
}

type capturedRequest struct {
	method, path, contentType, accept string
	body                              []byte
}

func newAuditServer(t *testing.T, statuses ...int) *auditServer {
	s := &auditServer{statuses: statuses, arrived: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *auditServer) withGate() *auditServer {
	s.gate = make(chan struct{})
	return s
}

func (s *auditServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if s.gate != nil {
		s.arrived <- struct{}{}
		select {
		case <-s.gate:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, capturedRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), body})
	status := s.statuses[0]
	if len(s.statuses) > 1 {
		s.statuses = s.statuses[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(status)
}

func (s *auditServer) captured() []capturedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]capturedRequest(nil), s.requests...)
}

func (s *auditServer) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-s.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the audit server")
	}
}

// backoffRecorder is an injected Backoff that records the retry numbers
// and pauses 1 ms.
type backoffRecorder struct {
	mu      sync.Mutex
	retries []int
}

func (b *backoffRecorder) backoff(retry int) time.Duration {
	b.mu.Lock()
	b.retries = append(b.retries, retry)
	b.mu.Unlock()
	return time.Millisecond
}

func (b *backoffRecorder) calls() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.retries...)
}

func testSinkConfig(endpoint string, b *backoffRecorder) AuditEventConfig {
	return AuditEventConfig{
		Endpoint:    endpoint,
		Client:      &http.Client{},
		Profile:     testProfile,
		QueueSize:   10,
		Workers:     1,
		Timeout:     5 * time.Second,
		MaxAttempts: 3,
		Backoff:     b.backoff,
	}
}

// newTestAuditor wraps sink in a non-required Auditor with counting hooks.
func newTestAuditor(t *testing.T, sink Sink, required bool) (*Auditor, *counts) {
	t.Helper()
	c := newCounts()
	a, err := NewAuditor(AuditorConfig{
		Sinks:    []NamedSink{{Name: SinkAuditEvent, Sink: sink}},
		Required: required,
		Hooks:    c.hooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

func closeSink(t *testing.T, s Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

func TestAuditEventSinkDelivery(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		wantRequests int
		wantBackoffs []int
		wantCounts   map[string]int
	}{
		{"created at once", []int{201}, 1, nil, map[string]int{"written/audit_event": 1}},
		{"503 then 201", []int{503, 201}, 2, []int{1}, map[string]int{"written/audit_event": 1}},
		{"429 twice then 200", []int{429, 429, 200}, 3, []int{1, 2}, map[string]int{"written/audit_event": 1}},
		{"503 until attempts run out", []int{503}, 3, []int{1, 2}, map[string]int{"failed/audit_event/server_error": 1}},
		{"400 is not retried", []int{400, 201}, 1, nil, map[string]int{"failed/audit_event/rejected": 1}},
		{"redirect is not success", []int{302}, 1, nil, map[string]int{"failed/audit_event/rejected": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAuditServer(t, tt.statuses...)
			var b backoffRecorder
			sink, err := NewAuditEventSink(testSinkConfig(srv.URL+"/fhir/", &b))
			if err != nil {
				t.Fatal(err)
			}
			a, c := newTestAuditor(t, sink, true)
			r := allowRecord(t)
			if err := a.Record(t.Context(), r); err != nil {
				t.Fatalf("Record = %v", err)
			}
			c.waitTotal(t, 1)
			closeSink(t, sink)

			if got := c.snapshot(); !reflect.DeepEqual(got, tt.wantCounts) {
				t.Errorf("counts = %v, want %v", got, tt.wantCounts)
			}
			if got := b.calls(); !reflect.DeepEqual(got, tt.wantBackoffs) {
				t.Errorf("backoffs = %v, want %v", got, tt.wantBackoffs)
			}
			want, err := testProfile.Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			reqs := srv.captured()
			if len(reqs) != tt.wantRequests {
				t.Fatalf("%d requests, want %d", len(reqs), tt.wantRequests)
			}
			for _, req := range reqs {
				if req.method != http.MethodPost || req.path != "/fhir/AuditEvent" ||
					req.contentType != "application/fhir+json" || req.accept != "application/fhir+json" {
					t.Errorf("request %s %s type %q accept %q", req.method, req.path, req.contentType, req.accept)
				}
				if string(req.body) != string(want) {
					t.Errorf("body\n%s\nwant\n%s", req.body, want)
				}
			}
		})
	}
}

func TestAuditEventSinkTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		var b backoffRecorder
		cfg := testSinkConfig(url, &b)
		cfg.MaxAttempts = 2
		sink, err := NewAuditEventSink(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, c := newTestAuditor(t, sink, false)
		if err := a.Record(t.Context(), allowRecord(t)); err != nil {
			t.Fatal(err)
		}
		c.waitTotal(t, 1)
		closeSink(t, sink)
		if got := c.snapshot(); got["failed/audit_event/transport"] != 1 || !reflect.DeepEqual(b.calls(), []int{1}) {
			t.Fatalf("counts %v, backoffs %v", got, b.calls())
		}
	})
	t.Run("per-request timeout", func(t *testing.T) {
		srv := newAuditServer(t, 201).withGate() // never opened: every request hangs
		var b backoffRecorder
		cfg := testSinkConfig(srv.URL, &b)
		cfg.Timeout = 20 * time.Millisecond
		cfg.MaxAttempts = 2
		sink, err := NewAuditEventSink(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, c := newTestAuditor(t, sink, false)
		if err := a.Record(t.Context(), allowRecord(t)); err != nil {
			t.Fatal(err)
		}
		c.waitTotal(t, 1)
		closeSink(t, sink)
		if got := c.snapshot(); got["failed/audit_event/timeout"] != 1 || !reflect.DeepEqual(b.calls(), []int{1}) {
			t.Fatalf("counts %v, backoffs %v", got, b.calls())
		}
	})
}

func TestAuditEventSinkQueueFull(t *testing.T) {
	srv := newAuditServer(t, 201).withGate()
	var b backoffRecorder
	cfg := testSinkConfig(srv.URL, &b)
	cfg.QueueSize = 1
	sink, err := NewAuditEventSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	required, c := newTestAuditor(t, sink, true)

	// The only worker takes the first record and hangs at the server;
	// the second fills the queue; the third has no room.
	if err := required.Record(t.Context(), allowRecord(t)); err != nil {
		t.Fatal(err)
	}
	srv.waitArrived(t)
	if err := required.Record(t.Context(), allowRecord(t)); err != nil {
		t.Fatal(err)
	}
	if sink.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", sink.Pending())
	}
	err = required.Record(t.Context(), denyRecord(t))
	if !errors.Is(err, ErrNotRecorded) || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Record with a full queue = %v, want ErrNotRecorded and ErrQueueFull", err)
	}
	if err := sink.Write(t.Context(), allowRecord(t)); err != ErrQueueFull {
		t.Fatalf("Write with a full queue = %v", err)
	}
	if got := c.snapshot(); !reflect.DeepEqual(got, map[string]int{"dropped/audit_event": 1}) {
		t.Fatalf("counts = %v", got)
	}

	// Not required: the same drop is counted but does not fail the call.
	optional, err := NewAuditor(AuditorConfig{Sinks: []NamedSink{{Name: SinkAuditEvent, Sink: sink}}, Hooks: c.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	if err := optional.Record(t.Context(), denyRecord(t)); err != nil {
		t.Fatalf("optional Record = %v", err)
	}
	if got := c.snapshot()["dropped/audit_event"]; got != 2 {
		t.Fatalf("dropped = %d, want 2", got)
	}

	close(srv.gate)
	c.waitTotal(t, 4) // two drops, two deliveries
	closeSink(t, sink)
	if got := c.snapshot()["written/audit_event"]; got != 2 || len(srv.captured()) != 2 {
		t.Fatalf("written = %d, requests = %d, want 2 and 2", got, len(srv.captured()))
	}
}

func TestAuditEventSinkClose(t *testing.T) {
	t.Run("drains the queue", func(t *testing.T) {
		srv := newAuditServer(t, 201).withGate()
		var b backoffRecorder
		cfg := testSinkConfig(srv.URL, &b)
		cfg.Workers = 2
		sink, err := NewAuditEventSink(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, c := newTestAuditor(t, sink, true)
		for range 6 {
			if err := a.Record(t.Context(), allowRecord(t)); err != nil {
				t.Fatal(err)
			}
		}
		srv.waitArrived(t)
		srv.waitArrived(t)
		closed := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			closed <- a.Close(ctx)
		}()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while records were still queued", err)
		default:
		}
		close(srv.gate)
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
		// Counted when Close returns: it waited for every delivery.
		if got := c.snapshot(); !reflect.DeepEqual(got, map[string]int{"written/audit_event": 6}) || len(srv.captured()) != 6 {
			t.Fatalf("after Close: counts %v, %d requests", got, len(srv.captured()))
		}
		if err := sink.Write(t.Context(), allowRecord(t)); ReasonOf(err) != ReasonClosed {
			t.Fatalf("Write after Close = %v", err)
		}
		if err := a.Record(t.Context(), allowRecord(t)); !errors.Is(err, ErrNotRecorded) {
			t.Fatalf("required Record after Close = %v", err)
		}
	})
	t.Run("deadline abandons the rest", func(t *testing.T) {
		srv := newAuditServer(t, 201).withGate() // never opened
		var b backoffRecorder
		sink, err := NewAuditEventSink(testSinkConfig(srv.URL, &b))
		if err != nil {
			t.Fatal(err)
		}
		a, c := newTestAuditor(t, sink, true)
		for range 3 {
			if err := a.Record(t.Context(), allowRecord(t)); err != nil {
				t.Fatal(err)
			}
		}
		srv.waitArrived(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = sink.Close(ctx)
		if ReasonOf(err) != ReasonShutdown || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want shutdown after the deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Close took %v", d)
		}
		if got := c.snapshot(); !reflect.DeepEqual(got, map[string]int{"failed/audit_event/shutdown": 3}) {
			t.Fatalf("counts = %v", got)
		}
		if len(srv.captured()) != 0 {
			t.Fatal("a request completed")
		}
		if err := sink.Close(context.Background()); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestAuditEventSinkConfig(t *testing.T) {
	valid := func() AuditEventConfig {
		return AuditEventConfig{Endpoint: "https://audit.example/fhir", Client: &http.Client{}, Profile: testProfile}
	}
	tests := []struct {
		name   string
		mutate func(*AuditEventConfig)
		ok     bool
	}{
		{"valid", func(*AuditEventConfig) {}, true},
		{"only a name", func(c *AuditEventConfig) { c.Profile = AuditEventProfile{DataSourceName: "HMO B"} }, true},
		{"no client", func(c *AuditEventConfig) { c.Client = nil }, false},
		{"no endpoint", func(c *AuditEventConfig) { c.Endpoint = "" }, false},
		{"relative endpoint", func(c *AuditEventConfig) { c.Endpoint = "/fhir" }, false},
		{"ftp endpoint", func(c *AuditEventConfig) { c.Endpoint = "ftp://audit.example/fhir" }, false},
		{"endpoint with query", func(c *AuditEventConfig) { c.Endpoint = "https://audit.example/fhir?x=1" }, false},
		{"no data source", func(c *AuditEventConfig) { c.Profile = AuditEventProfile{} }, false},
		{"negative queue", func(c *AuditEventConfig) { c.QueueSize = -1 }, false},
		{"negative workers", func(c *AuditEventConfig) { c.Workers = -1 }, false},
		{"negative timeout", func(c *AuditEventConfig) { c.Timeout = -time.Second }, false},
		{"negative attempts", func(c *AuditEventConfig) { c.MaxAttempts = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			sink, err := NewAuditEventSink(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if sink != nil {
				closeSink(t, sink)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		sink, err := NewAuditEventSink(valid())
		if err != nil {
			t.Fatal(err)
		}
		defer closeSink(t, sink)
		if cap(sink.queue) != DefaultQueueSize || sink.timeout != DefaultTimeout ||
			sink.maxAttempts != DefaultMaxAttempts || sink.url != "https://audit.example/fhir/AuditEvent" {
			t.Fatalf("defaults: queue %d timeout %v attempts %d url %s", cap(sink.queue), sink.timeout, sink.maxAttempts, sink.url)
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 125 * time.Millisecond, 250 * time.Millisecond},
		{2, 250 * time.Millisecond, 500 * time.Millisecond},
		{5, 2 * time.Second, 4 * time.Second},
		{6, 2500 * time.Millisecond, 5 * time.Second},
		{100, 2500 * time.Millisecond, 5 * time.Second},
		{0, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run("retry", func(t *testing.T) {
			for range 50 {
				if d := DefaultBackoff(tt.retry); d < tt.min || d > tt.max {
					t.Fatalf("DefaultBackoff(%d) = %v, want in [%v, %v]", tt.retry, d, tt.min, tt.max)
				}
			}
		})
	}
}

func TestAuditEventSinkCopiesConsentRefs(t *testing.T) {
	srv := newAuditServer(t, 201).withGate()
	var b backoffRecorder
	sink, err := NewAuditEventSink(testSinkConfig(srv.URL, &b))
	if err != nil {
		t.Fatal(err)
	}
	a, c := newTestAuditor(t, sink, true)
	r := allowRecord(t)
	if err := a.Record(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	r.ConsentRefs[0] = "Consent/changed-by-caller"
	r.Baskets[0].Code = "changedByCaller"
	close(srv.gate)
	c.waitTotal(t, 1)
	closeSink(t, sink)
	var ev struct {
		Entity []struct {
			What struct {
				Reference string `json:"reference"`
			} `json:"what"`
		} `json:"entity"`
	}
	if err := json.Unmarshal(srv.captured()[0].body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Entity[1].What.Reference != "Consent/123" {
		t.Fatalf("consent reference = %q: the queued record shares the caller's slice", ev.Entity[1].What.Reference)
	}
	if bytes.Contains(srv.captured()[0].body, []byte("changedByCaller")) {
		t.Fatal("the queued record shares the caller's baskets")
	}
}

// BenchmarkAuditEventSinkWrite is the request-path cost of the AuditEvent
// sink: one non-blocking enqueue (or drop when the workers fall behind).
func BenchmarkAuditEventSinkWrite(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	sink, err := NewAuditEventSink(AuditEventConfig{Endpoint: srv.URL, Client: srv.Client(), Profile: testProfile})
	if err != nil {
		b.Fatal(err)
	}
	r := allowRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Write(b.Context(), r); err != nil && err != ErrQueueFull {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = sink.Close(ctx)
}
