package simhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestListenLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{addr: "127.0.0.1:0", ok: true},
		{addr: "localhost:0", ok: true},
		{addr: "127.0.0.2:0", ok: true},
		{addr: "0.0.0.0:0"},
		{addr: ":0"},
		{addr: "10.1.2.3:0"},
		{addr: "example.com:0"},
		{addr: "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			ln, err := ListenLoopback(tc.addr)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok = %v", err, tc.ok)
			}
			if ln != nil {
				ln.Close()
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		A int `json:"a"`
	}
	tests := []struct {
		name, in string
		want     int
		ok       bool
	}{
		{name: "object", in: `{"a":7}`, want: 7, ok: true},
		{name: "empty body", in: ``, ok: true},
		{name: "unknown field", in: `{"b":1}`},
		{name: "trailing data", in: `{"a":1} x`},
		{name: "second object", in: `{"a":1}{"a":2}`},
		{name: "too large", in: `{"a":1` + strings.Repeat(" ", 100) + `}`},
		{name: "wrong type", in: `{"a":"1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			var b body
			err := DecodeJSON(r, &b, 64)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if tc.ok && b.A != tc.want {
				t.Fatalf("a = %d", b.A)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusCreated, map[string]int{"n": 1})
	if rec.Code != http.StatusCreated || rec.Body.String() != "{\"n\":1}\n" ||
		rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}

func TestRunStopsOnContext(t *testing.T) {
	ln, err := ListenLoopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Server{HTTP: &http.Server{Handler: http.NotFoundHandler()}, Listener: ln})
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("server still serving after shutdown")
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"a":1}`)
	f.Add(`{"a":1}{}`)
	f.Fuzz(func(t *testing.T, in string) {
		var v map[string]any
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
		err := DecodeJSON(r, &v, 1024)
		if err == nil && strings.TrimSpace(in) != "" && !json.Valid([]byte(in)) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
	})
}
