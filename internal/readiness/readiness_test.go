package readiness

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		path string
		want Kind
	}{
		{"/health/live", Live},
		{"/health/ready", Ready},
		{"/pep/health/ready", Ready},
		{"/live", Live},
		{"/health", Report},
		{"/", Report},
		{"", Report},
		{"/health/ready/", Report},
		{"/health/readyz", Report},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := KindOf(tt.path); got != tt.want {
				t.Errorf("KindOf(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		in     []Result
		want   Status
		code   int
		reason string
	}{
		{"none", nil, Fail, 503, "no checks configured"},
		{"all ok", []Result{{"ntn", OK, ""}, {"pcm", OK, ""}}, OK, 200, ""},
		{"degraded serves", []Result{{"ntn", Degraded, "refresh failing"}, {"pcm", OK, ""}}, Degraded, 200, ""},
		{"one fails", []Result{{"pcm", Fail, "cannot obtain a PCM access token"}, {"ntn", OK, ""}}, Fail, 503, "pcm: cannot obtain a PCM access token"},
		{"reasons sorted", []Result{{"upstream", Fail, "unreachable"}, {"ntn", Fail, "manifest is stale"}, {"policy", Degraded, "dry_run"}},
			Fail, 503, "ntn: manifest is stale; upstream: unreachable"},
		{"unknown status fails closed", []Result{{"x", Status("maybe"), ""}}, Fail, 503, "x: fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.in)
			if got.Status != tt.want || got.HTTPStatus != tt.code || got.Reason != tt.reason {
				t.Errorf("got %+v, want {%s %d %q}", got, tt.want, tt.code, tt.reason)
			}
		})
	}
}

func TestUpstreamProbe(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/metadata", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(405)
			return
		}
		_, _ = w.Write([]byte(`{"resourceType":"CapabilityStatement"}`))
	})
	mux.HandleFunc("/err/metadata", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) })
	mux.HandleFunc("/redirect/metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok/metadata", http.StatusFound)
	})
	mux.HandleFunc("/slow/metadata", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name    string
		base    string
		timeout time.Duration
		status  Status
		detail  string
	}{
		{"ok", srv.URL + "/ok", 0, OK, ""},
		{"ok with trailing slash", srv.URL + "/ok/", 0, OK, ""},
		{"server error", srv.URL + "/err", 0, Fail, "upstream answered 502 to GET /metadata"},
		{"redirect not followed", srv.URL + "/redirect", 0, Fail, "upstream unreachable"},
		{"timeout", srv.URL + "/slow", 20 * time.Millisecond, Fail, "upstream did not answer within 20ms"},
		{"connection refused", closed.URL, 0, Fail, "upstream unreachable"},
		{"bad URL", "http://[::1", 0, Fail, "upstream URL is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UpstreamProbe{Base: tt.base, Timeout: tt.timeout}.Check(context.Background())
			if got.Name != "upstream" || got.Status != tt.status || got.Detail != tt.detail {
				t.Errorf("got %+v, want %s %q", got, tt.status, tt.detail)
			}
		})
	}
}

func TestDialProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	var dialed string
	recordDial := func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = addr
		return nil, errors.New("refused")
	}
	hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	tests := []struct {
		name       string
		probe      DialProbe
		status     Status
		detail     string
		wantDialed string
	}{
		{"listening", DialProbe{Base: "http://" + ln.Addr().String() + "/fhir/R4"}, OK, "", ""},
		{"refused", DialProbe{Base: "http://" + closedAddr}, Fail, "upstream unreachable", ""},
		{"http default port", DialProbe{Base: "http://hapi.internal/R4", Dial: recordDial}, Fail, "upstream unreachable", "hapi.internal:80"},
		{"https default port", DialProbe{Base: "https://hapi.internal/R4", Dial: recordDial}, Fail, "upstream unreachable", "hapi.internal:443"},
		{"ipv6 literal", DialProbe{Base: "http://[::1]:8080/R4", Dial: recordDial}, Fail, "upstream unreachable", "[::1]:8080"},
		{"timeout", DialProbe{Base: "http://hapi.internal:8080", Dial: hang, Timeout: time.Millisecond}, Fail, "upstream did not accept a connection within 1ms", ""},
		{"no host", DialProbe{Base: "/R4"}, Fail, "upstream URL is invalid", ""},
		{"other scheme", DialProbe{Base: "ftp://hapi.internal/R4"}, Fail, "upstream URL is invalid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialed = ""
			got := tt.probe.Check(context.Background())
			if got.Name != "upstream" || got.Status != tt.status || got.Detail != tt.detail {
				t.Errorf("got %+v, want %s %q", got, tt.status, tt.detail)
			}
			if tt.wantDialed != "" && dialed != tt.wantDialed {
				t.Errorf("dialed %q, want %q", dialed, tt.wantDialed)
			}
		})
	}
}
