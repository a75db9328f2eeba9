package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkServeCachedRead measures the PEP's own work on the request the
// issue #13 read ratio is about: GET /Observation/{id} with the token, the
// patient and the decision cached. Everything runs as in production except
// the network: the audit record is a JSON line written to a file, and the
// upstream (the handler after the PEP, normally reverse_proxy) writes a
// fixed Observation in-process, so the number is the PEP's overhead alone
// (compare `go run ./cmd/bench-e2e`, which includes Caddy, TLS and the
// proxy).
//
//	go test -run '^$' -bench ServeCachedRead -benchmem ./caddymodule/
func BenchmarkServeCachedRead(b *testing.B) {
	dir := b.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logFile), zap.InfoLevel)
	key := filepath.Join(dir, "hash.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		b.Fatal(err)
	}
	f := newGateFixtureOn(b, core, func(p *PEP) { p.Audit = &AuditConfig{PatientHashKey: key, Required: true} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	// The first request resolves and caches the patient, the token and
	// the decision.
	if w := f.serve(f.request("GET", "/R4/Observation/obs-lab", f.caller, "lab")); w.Code != 200 {
		b.Fatalf("warm-up: status %d: %s", w.Code, w.Body)
	}
	f.pep.pcm.introspector.Cache().Wait()

	body, err := json.Marshal(observation("obs-lab", "p1", "laboratoryTests"))
	if err != nil {
		b.Fatal(err)
	}
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Content-Type", "application/fhir+json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(body)
		return err
	})
	b.ReportAllocs()
	for b.Loop() {
		r := f.request("GET", "/R4/Observation/obs-lab", f.caller, "lab")
		w := httptest.NewRecorder()
		if err := f.pep.ServeHTTP(w, r, upstream); err != nil || w.Code != 200 {
			b.Fatalf("status %d, err %v: %s", w.Code, err, w.Body)
		}
	}
}
