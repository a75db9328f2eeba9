package audit

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observedSink(level zapcore.Level) (*LogSink, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return NewLogSink(zap.New(core).Named(LoggerName)), logs
}

func TestLogSinkFields(t *testing.T) {
	tests := []struct {
		name   string
		record func(testing.TB) Record
		want   map[string]any
	}{
		{"allow", allowRecord, map[string]any{
			"decision_id":        "d3c1s10n-a11ow-0f-9e4",
			"correlation_id":     "sp-req-42",
			"time":               "2026-11-22T08:00:00.123Z",
			"member_id":          "org-sp-hospital-a",
			"thumbprint":         "xPtmbQAjbRtmuY-zj_Ysu-nLvUsRP1Ix-U3lWkQdhPE",
			"client_id":          "http://pcm.fhir.health.gov.il/organization/633",
			"consent_refs":       []any{"Consent/123", "https://pcm.fhir.health.gov.il/fhir/Consent/c-9"},
			"consent_id":         "PCM-CONSENT-0002",
			"access_type":        "one-time",
			"sp_organization_id": "org-sp-hospital-a",
			"baskets": []any{
				"http://fhir.health.gov.il/cs/hdp-information-buckets|laboratoryTests;historical_depth=2024-01-01",
				"http://fhir.health.gov.il/cs/il-hdp-information-buckets|encounterInformation",
			},
			"intent":         "HealthcareService",
			"interaction":    "search-type",
			"resource_type":  "Observation",
			"outcome":        "allow",
			"status":         int64(200),
			"reason":         "allowed",
			"stage":          "",
			"returned":       int64(7),
			"withheld":       int64(2),
			"policy_version": "2026.11.1",
			"patient_hash":   "Me72Sa-sLROKmZSmExh-Jk8nCW4uAsUC1PgJR1H0T-I",
			"dry_run":        false,
		}},
		{"empty record keeps every field", func(testing.TB) Record { return Record{Time: testTime} }, map[string]any{
			"decision_id": "", "correlation_id": "", "time": "2026-11-22T08:00:00.123Z", "member_id": "", "thumbprint": "",
			"client_id": "", "consent_refs": []any{}, "consent_id": "", "access_type": "", "sp_organization_id": "",
			"baskets": []any{}, "intent": "", "interaction": "", "resource_type": "",
			"outcome": "", "status": int64(0), "reason": "", "stage": "", "returned": int64(0), "withheld": int64(0),
			"policy_version": "", "patient_hash": "", "dry_run": false,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, logs := observedSink(zapcore.InfoLevel)
			r := tt.record(t)
			if err := sink.Write(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			entries := logs.AllUntimed()
			if len(entries) != 1 {
				t.Fatalf("%d log entries, want 1", len(entries))
			}
			e := entries[0]
			if e.LoggerName != LoggerName || e.Message != LogMessage || e.Level != zapcore.InfoLevel {
				t.Fatalf("entry %q %q %v", e.LoggerName, e.Message, e.Level)
			}
			if got := logs.All()[0].Time; !got.Equal(r.Time) {
				t.Fatalf("entry time %v, want %v", got, r.Time)
			}
			if got := e.ContextMap(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestLogSinkNoNationalID(t *testing.T) {
	for _, rec := range []func(testing.TB) Record{allowRecord, denyRecord} {
		sink, logs := observedSink(zapcore.InfoLevel)
		r := rec(t)
		if err := sink.Write(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		for key, v := range logs.All()[0].ContextMap() {
			s := fmt.Sprint(v)
			if nationalIDPattern.MatchString(s) || s == testNationalID {
				t.Errorf("field %s = %q looks like a national id", key, s)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
func (failingWriter) Sync() error               { return errors.New("disk full") }

func TestLogSinkFailures(t *testing.T) {
	t.Run("core write error", func(t *testing.T) {
		core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), failingWriter{}, zapcore.InfoLevel)
		sink := NewLogSink(zap.New(core))
		if err := sink.Write(t.Context(), allowRecord(t)); ReasonOf(err) != ReasonLogWrite {
			t.Fatalf("Write = %v, want %s", err, ReasonLogWrite)
		}
		if err := sink.Close(t.Context()); ReasonOf(err) != ReasonLogWrite {
			t.Fatalf("Close = %v, want %s", err, ReasonLogWrite)
		}
	})
	t.Run("one of two cores fails", func(t *testing.T) {
		ok, logs := observer.New(zapcore.InfoLevel)
		bad := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), failingWriter{}, zapcore.InfoLevel)
		sink := NewLogSink(zap.New(zapcore.NewTee(ok, bad)))
		if err := sink.Write(t.Context(), allowRecord(t)); ReasonOf(err) != ReasonLogWrite {
			t.Fatalf("Write = %v, want %s", err, ReasonLogWrite)
		}
		if logs.Len() != 1 {
			t.Fatalf("healthy core got %d entries", logs.Len())
		}
	})
	t.Run("level disabled", func(t *testing.T) {
		sink, logs := observedSink(zapcore.WarnLevel)
		if err := sink.Write(t.Context(), allowRecord(t)); ReasonOf(err) != ReasonLogDisabled {
			t.Fatalf("Write = %v, want %s", err, ReasonLogDisabled)
		}
		if logs.Len() != 0 {
			t.Fatal("entry logged below the level")
		}
	})
	t.Run("write after close", func(t *testing.T) {
		sink, logs := observedSink(zapcore.InfoLevel)
		if err := sink.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(t.Context()); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := sink.Write(t.Context(), allowRecord(t)); ReasonOf(err) != ReasonClosed {
			t.Fatalf("Write = %v, want %s", err, ReasonClosed)
		}
		if logs.Len() != 0 {
			t.Fatal("entry logged after Close")
		}
	})
}

func BenchmarkLogSinkWrite(b *testing.B) {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(discard{}), zapcore.InfoLevel)
	sink := NewLogSink(zap.New(core).Named(LoggerName))
	r := allowRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Write(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
