package floor

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hdp-il/fhir-pep/audit"
)

// The yardstick is only worth its numbers if it does what it stands for:
// the answer leaves after the audit line is written, whole, with the
// upstream's status and headers; no audit logger, no answer.
func TestServeHTTPAuditsBeforeAnswering(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newHandler(t, zap.New(core), "")
	body := `{"resourceType":"Observation","id":"obs-1"}`
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if logs.Len() != 0 {
			t.Error("audit line written before the upstream answered")
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Content-Length", "44")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(body[:10]))
		_, _ = w.Write([]byte(body[10:]))
		return nil
	})
	rec := &orderRecorder{ResponseRecorder: httptest.NewRecorder(), logs: logs}
	if err := h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fhir/R4/Observation/obs-1", nil), next); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || rec.Body.String() != body || rec.Header().Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("answer %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if !rec.auditedFirst {
		t.Error("the answer's header left before the audit line was written")
	}
	if logs.Len() != 1 || logs.All()[0].Message != audit.LogMessage || len(logs.All()[0].ContextMap()) != 23 {
		t.Fatalf("audit lines: %+v", logs.All())
	}
}

func TestServeHTTPFailsClosedWithoutAuditLogger(t *testing.T) {
	h := newHandler(t, zap.NewNop(), "")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = w.Write([]byte("{}"))
		return nil
	})
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil), next)
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want a 503 handler error", err)
	}
	if rec.Body.Len() != 0 {
		t.Fatalf("answered %q without an audit line", rec.Body.String())
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for in, want := range map[string]string{
		"bench_floor": "", "bench_floor capture": "capture", "bench_floor audit": "audit",
		"bench_floor x": "error", "bench_floor capture audit": "error", "bench_floor {\n\tx\n}": "error",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if got := h.Only; err != nil {
			got = "error"
		} else if got != want {
			t.Errorf("%q: Only = %q, want %q", in, got, want)
		}
		if (err != nil) != (want == "error") {
			t.Errorf("%q: err = %v", in, err)
		}
	}
}

// orderRecorder notes whether the audit line existed when the header was
// written.
type orderRecorder struct {
	*httptest.ResponseRecorder
	logs         *observer.ObservedLogs
	auditedFirst bool
}

func (o *orderRecorder) WriteHeader(code int) {
	o.auditedFirst = o.logs.Len() == 1
	o.ResponseRecorder.WriteHeader(code)
}

// Each duty alone: "capture" answers whole with no audit line, "audit"
// writes the line before the upstream is asked and lets the answer stream.
func TestServeHTTPOneDuty(t *testing.T) {
	for _, only := range []string{"capture", "audit"} {
		t.Run(only, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			h := newHandler(t, zap.New(core), only)
			var auditedBeforeUpstream, streamed bool
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				auditedBeforeUpstream = logs.Len() == 1
				_, streamed = w.(*httptest.ResponseRecorder)
				_, _ = w.Write([]byte("{}"))
				return nil
			})
			rec := httptest.NewRecorder()
			if err := h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil), next); err != nil {
				t.Fatal(err)
			}
			if rec.Body.String() != "{}" {
				t.Fatalf("answer %q", rec.Body.String())
			}
			wantLines := map[string]int{"capture": 0, "audit": 1}[only]
			if logs.Len() != wantLines || auditedBeforeUpstream != (only == "audit") || streamed != (only == "audit") {
				t.Fatalf("lines %d, audited before upstream %v, streamed %v", logs.Len(), auditedBeforeUpstream, streamed)
			}
		})
	}
}

func newHandler(t *testing.T, logger *zap.Logger, only string) *Handler {
	t.Helper()
	hasher, err := audit.NewPatientHasher(make([]byte, audit.MinPatientKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{Only: only, sink: audit.NewLogSink(logger), hasher: hasher}
}
