package audit

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeSink records what it is given and fails as told.
type fakeSink struct {
	mu       sync.Mutex
	records  []Record
	writeErr error
	closeErr error
	closed   bool
}

func (f *fakeSink) Write(_ context.Context, r Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, r)
	return f.writeErr
}

func (f *fakeSink) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return f.closeErr
}

// fakeAsync is a fakeSink that reports deliveries when told.
type fakeAsync struct {
	fakeSink
	report func(error)
}

func (f *fakeAsync) OnDelivery(report func(error)) { f.report = report }

func TestAuditorRecord(t *testing.T) {
	queueFull := ErrQueueFull
	tests := []struct {
		name       string
		required   bool
		logErr     error
		asyncErr   error
		wantErr    bool
		wantCounts map[string]int
	}{
		{"all taken", true, nil, nil, false, map[string]int{"written/log": 1}},
		{"log fails, required", true, &Error{Reason: ReasonLogWrite}, nil, true, map[string]int{"failed/log/log_write": 1}},
		{"log fails, not required", false, &Error{Reason: ReasonLogWrite}, nil, false, map[string]int{"failed/log/log_write": 1}},
		{"queue full, required", true, nil, queueFull, true, map[string]int{"written/log": 1, "dropped/audit_event": 1}},
		{"queue full, not required", false, nil, queueFull, false, map[string]int{"written/log": 1, "dropped/audit_event": 1}},
		{"foreign error", true, errors.New("boom"), nil, true, map[string]int{"failed/log/other": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logSink := &fakeSink{writeErr: tt.logErr}
			async := &fakeAsync{fakeSink: fakeSink{writeErr: tt.asyncErr}}
			c := newCounts()
			core, logs := observer.New(zapcore.WarnLevel)
			a, err := NewAuditor(AuditorConfig{
				Sinks:    []NamedSink{{SinkLog, logSink}, {SinkAuditEvent, async}},
				Required: tt.required,
				Hooks:    c.hooks(),
				Logger:   zap.New(core),
			})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Record(t.Context(), allowRecord(t))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Record = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("Record = %v, not ErrNotRecorded", err)
			}
			if got := c.snapshot(); !reflect.DeepEqual(got, tt.wantCounts) {
				t.Fatalf("counts = %v, want %v", got, tt.wantCounts)
			}
			if len(logSink.records) != 1 || len(async.records) != 1 {
				t.Fatal("a sink was skipped")
			}
			failures := 0
			if tt.logErr != nil {
				failures++
			}
			if tt.asyncErr != nil {
				failures++
			}
			if logs.Len() != failures {
				t.Fatalf("%d operational log lines, want %d", logs.Len(), failures)
			}
			for _, e := range logs.All() {
				if e.ContextMap()["decision_id"] != "d3c1s10n-a11ow-0f-9e4" {
					t.Fatalf("log line without the decision id: %v", e.ContextMap())
				}
			}

			// Deliveries of the async sink are counted when reported.
			async.report(nil)
			async.report(&Error{Reason: ReasonServerError})
			got := c.snapshot()
			if got["written/audit_event"] != 1 || got["failed/audit_event/server_error"] != 1 {
				t.Fatalf("delivery counts = %v", got)
			}
		})
	}
}

func TestAuditorStampsTime(t *testing.T) {
	sink := &fakeSink{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := NewAuditor(AuditorConfig{Sinks: []NamedSink{{SinkLog, sink}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Record(t.Context(), Record{DecisionID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(t.Context(), Record{DecisionID: "b", Time: testTime}); err != nil {
		t.Fatal(err)
	}
	if !sink.records[0].Time.Equal(now) || !sink.records[1].Time.Equal(testTime) {
		t.Fatalf("times %v %v", sink.records[0].Time, sink.records[1].Time)
	}
}

func TestAuditorConfig(t *testing.T) {
	s := &fakeSink{}
	tests := []struct {
		name  string
		sinks []NamedSink
	}{
		{"no sinks", nil},
		{"unnamed sink", []NamedSink{{"", s}}},
		{"nil sink", []NamedSink{{SinkLog, nil}}},
		{"duplicate name", []NamedSink{{SinkLog, s}, {SinkLog, &fakeSink{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAuditor(AuditorConfig{Sinks: tt.sinks}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAuditorClose(t *testing.T) {
	ok := &fakeSink{}
	bad := &fakeSink{closeErr: &Error{Reason: ReasonShutdown}}
	a, err := NewAuditor(AuditorConfig{Sinks: []NamedSink{{"bad", bad}, {"ok", ok}}, Required: true})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Required() {
		t.Fatal("Required() = false")
	}
	if err := a.Close(t.Context()); ReasonOf(err) != ReasonShutdown {
		t.Fatalf("Close = %v", err)
	}
	if !ok.closed || !bad.closed {
		t.Fatal("a sink was not closed")
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"sentinel", ErrQueueFull, ReasonQueueFull},
		{"wrapped", errors.Join(ErrNotRecorded, &Error{Reason: ReasonTimeout, Err: context.DeadlineExceeded}), ReasonTimeout},
		{"foreign", errors.New("x"), ReasonOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonOf(tt.err); got != tt.want {
				t.Fatalf("ReasonOf = %q, want %q", got, tt.want)
			}
		})
	}
	if errors.Is(&Error{Reason: ReasonTimeout}, ErrQueueFull) {
		t.Fatal("a timeout is ErrQueueFull")
	}
	if got := (&Error{Reason: ReasonRejected, Err: errors.New("HTTP status 400")}).Error(); got != "audit: rejected: HTTP status 400" {
		t.Fatalf("Error() = %q", got)
	}
}

// nopAsync accepts everything and never reports: the bench measures the
// Auditor and the log sink, not a queue.
type nopAsync struct{}

func (nopAsync) Write(context.Context, Record) error { return nil }
func (nopAsync) Close(context.Context) error         { return nil }
func (nopAsync) OnDelivery(func(error))              {}

// BenchmarkAuditorRecord is the per-request cost of auditing: the JSON log
// line (to a discarding writer) and the fan-out with hooks.
func BenchmarkAuditorRecord(b *testing.B) {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(discard{}), zapcore.InfoLevel)
	var written sync.Map
	a, err := NewAuditor(AuditorConfig{
		Sinks:    []NamedSink{{SinkLog, NewLogSink(zap.New(core).Named(LoggerName))}, {SinkAuditEvent, nopAsync{}}},
		Required: true,
		Hooks:    Hooks{OnWritten: func(sink string) { written.Store(sink, true) }},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := allowRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Record(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}
