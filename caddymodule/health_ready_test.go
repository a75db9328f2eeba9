package caddymodule

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
)

func TestWriteLive(t *testing.T) {
	w := httptest.NewRecorder()
	writeLive(w)
	if w.Code != 200 || w.Body.String() != `{"status":"ok"}` || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
	}
}

func TestUpstreamCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := "http://" + ln.Addr().String() + "/R4"
	if c := (&PEP{UpstreamBase: up}).upstreamCheck(context.Background()); c.Status != "ok" {
		t.Fatalf("listening upstream: %+v", c)
	}
	ln.Close()
	if c := (&PEP{UpstreamBase: up}).upstreamCheck(context.Background()); c.Status != "fail" || c.Detail != "upstream unreachable" {
		t.Fatalf("closed upstream: %+v", c)
	}
}

func TestSummarizeChecks(t *testing.T) {
	tests := []struct {
		name   string
		checks map[string]healthCheck
		code   int
		reason string
	}{
		{"ok", map[string]healthCheck{"ntn": {Status: "ok"}, "pcm": {Status: "ok"}}, 200, ""},
		{"degraded", map[string]healthCheck{"policy": {Status: "degraded", Detail: "dry_run is on"}}, 200, ""},
		{"failing", map[string]healthCheck{
			"ntn":      {Status: "fail", Detail: "manifest is stale"},
			"upstream": {Status: "fail", Detail: "upstream unreachable"},
			"pcm":      {Status: "ok"},
		}, 503, "ntn: manifest is stale; upstream: upstream unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarizeChecks(tt.checks)
			if s.HTTPStatus != tt.code || s.Reason != tt.reason {
				t.Fatalf("got %+v, want %d %q", s, tt.code, tt.reason)
			}
		})
	}
}
