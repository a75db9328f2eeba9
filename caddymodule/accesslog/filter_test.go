package accesslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/logging"
)

func TestFilterFieldTypes(t *testing.T) {
	tests := []struct {
		name  string
		field zapcore.Field
		want  string // JSON of the filtered field as {"k": ...}
	}{
		{"uri string", zap.String("uri", "/R4/Patient?identifier=a|000000026&access_token=t"),
			`{"uri":"/R4/Patient?identifier="}`},
		{"authorization array", zap.Array("Authorization", caddyhttp.LoggableStringArray{"Bearer tok"}),
			`{"Authorization":["REDACTED"]}`},
		{"lower-case proxy-authorization array", zap.Array("proxy-authorization", caddyhttp.LoggableStringArray{"Basic x"}),
			`{"proxy-authorization":["REDACTED"]}`},
		{"referer array", zap.Array("Referer", caddyhttp.LoggableStringArray{"https://app.example/x?patient=000000026"}),
			`{"Referer":["https://app.example/x?patient="]}`},
		{"headers object", zap.Object("headers", caddyhttp.LoggableHTTPHeader{
			Header: http.Header{
				"Authorization":    {"Bearer tok"},
				"Cookie":           {"s=1"},
				"Referer":          {"/R4/Patient?identifier=x|000000026"},
				"X-Correlation-Id": {"abc-1"},
			},
			ShouldLogCredentials: true,
		}), `{"headers":{"Authorization":["REDACTED"],"Cookie":["REDACTED"],"Referer":["/R4/Patient?identifier="],"X-Correlation-Id":["abc-1"]}}`},
		{"nil headers", zap.Object("headers", caddyhttp.LoggableHTTPHeader{}), `{"headers":{}}`},
		{"unknown type is hidden", zap.Int("status", 200), `{"status":"REDACTED"}`},
		{"foreign array is hidden", zap.Strings("uris", []string{"/a?b=c"}), `{"uris":"REDACTED"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QueryFilter{}.Filter(tt.field)
			enc := zapcore.NewMapObjectEncoder()
			got.AddTo(enc)
			b, err := json.Marshal(enc.Fields)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, string(b), tt.want) {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestAccessLogThroughCaddyFilterEncoder runs the filter the way Caddy does:
// a filter encoder loaded from JSON config wrapping the json encoder, and a
// request logged with Caddy's own request marshaler, credentials logging on.
func TestAccessLogThroughCaddyFilterEncoder(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	var fe logging.FilterEncoder
	cfg := `{
		"wrap": {"format": "json"},
		"fields": {
			"request>uri": {"filter": "fhir_query"},
			"request>headers": {"filter": "fhir_query"}
		}
	}`
	if err := json.Unmarshal([]byte(cfg), &fe); err != nil {
		t.Fatal(err)
	}
	if err := fe.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	logger := zap.New(zapcore.NewCore(&fe, zapcore.AddSync(&out), zapcore.DebugLevel))

	const token = "opaque-pcm-token-0123"
	const nationalID = "000000026"
	req := httptest.NewRequest(http.MethodGet,
		"/R4/Observation?patient.identifier=http://fhir.health.gov.il/identifier/il-national-id%7C"+nationalID+
			"&access%5Ftoken="+token+"&_count=5", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Referer", "https://sp.example/app?patient="+nationalID)
	req.TLS = &tls.ConnectionState{}
	logger.Info("handled request", zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req, ShouldLogCredentials: true}))

	line := out.String()
	for _, secret := range []string{token, nationalID, "access_token", "access%5Ftoken", "il-national-id"} {
		if strings.Contains(line, secret) {
			t.Errorf("access log line contains %q: %s", secret, line)
		}
	}
	var entry struct {
		Request struct {
			URI     string              `json:"uri"`
			Headers map[string][]string `json:"headers"`
		} `json:"request"`
	}
	if err := json.Unmarshal(out.Bytes(), &entry); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if want := "/R4/Observation?patient.identifier=&_count="; entry.Request.URI != want {
		t.Errorf("uri = %q, want %q", entry.Request.URI, want)
	}
	if got := entry.Request.Headers["Authorization"]; len(got) != 1 || got[0] != Redacted {
		t.Errorf("Authorization = %q", got)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"bare", "fhir_query", ""},
		{"argument", "fhir_query keep", "takes no arguments"},
		{"block", "fhir_query {\n keep_values _count\n}", `unrecognized subdirective "keep_values"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f QueryFilter
			err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}
