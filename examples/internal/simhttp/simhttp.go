// Package simhttp holds what the demo simulators (pcm-sim, ntn-sim,
// resolve-sim) share about serving HTTP: a loopback-only listener for their
// unauthenticated admin APIs, JSON request and response handling, and
// running several servers until shutdown.
package simhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ListenLoopback listens on addr only if its host is a loopback address or
// "localhost": admin APIs have no authentication and must not be reachable
// from the network.
func ListenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("admin address %q: only loopback addresses are allowed", addr)
		}
	}
	return net.Listen("tcp", addr)
}

// WriteJSON writes v as a JSON response that no cache may keep.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// DecodeJSON reads one JSON object of at most maxBytes from the request body
// into v. Unknown fields and trailing data are errors, so a typo in a test's
// admin call fails loudly instead of being ignored. An empty body leaves v
// untouched.
func DecodeJSON(r *http.Request, v any, maxBytes int64) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBytes+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.InputOffset() > maxBytes {
		return errors.New("body too large")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Server is one HTTP server and the listener it serves; TLS servers take
// their certificates from HTTP.TLSConfig.
type Server struct {
	HTTP     *http.Server
	Listener net.Listener
	TLS      bool
}

// shutdownGrace bounds how long in-flight requests may take at shutdown.
const shutdownGrace = 5 * time.Second

// Run serves every server until ctx is done or one of them fails, then shuts
// all of them down. It returns the first serving error, if any.
func Run(ctx context.Context, servers ...Server) error {
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			var err error
			if s.TLS {
				err = s.HTTP.ServeTLS(s.Listener, "", "")
			} else {
				err = s.HTTP.Serve(s.Listener)
			}
			errs <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, s := range servers {
		_ = s.HTTP.Shutdown(shutdownCtx)
	}
	if errors.Is(first, http.ErrServerClosed) {
		return nil
	}
	return first
}
