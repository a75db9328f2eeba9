package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client is one keep-alive HTTP/1.1 client with a fixed number of
// connections, as a service provider's FHIR client would hold.
type client struct {
	http  *http.Client
	token string
	conns int // also the number of workers of a round
}

func newClient(tlsConf *tls.Config, conns int, token string) *client {
	tr := &http.Transport{
		TLSClientConfig:     tlsConf,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &client{http: &http.Client{Transport: tr, Timeout: time.Minute}, token: token, conns: conns}
}

func (c *client) get(ctx context.Context, url string) (int, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n, err
}

// round is what one timed round of one target measured.
type round struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	bytes     int64
	cpu       cpuUse
}

func (r round) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r round) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(q*float64(len(r.latencies))))]
}

// run sends GET url from workers goroutines for d, after a warm-up of
// warm. Any answer other than 200 aborts the round: a bench of refusals
// measures nothing.
func (c *client) run(url string, workers int, warm, d time.Duration, serverPid int) (round, error) {
	if err := c.loop(url, workers, warm, nil); err != nil {
		return round{}, fmt.Errorf("warm-up: %w", err)
	}
	per := make([][]time.Duration, workers)
	var bytes atomic.Int64
	cpu0 := sampleCPU(serverPid)
	start := time.Now()
	err := c.loop(url, workers, d, func(w int, lat time.Duration, n int64) {
		per[w] = append(per[w], lat)
		bytes.Add(n)
	})
	elapsed := time.Since(start)
	cpu1 := sampleCPU(serverPid)
	if err != nil {
		return round{}, err
	}
	var all []time.Duration
	for _, p := range per {
		all = append(all, p...)
	}
	slices.Sort(all)
	return round{requests: len(all), elapsed: elapsed, latencies: all, bytes: bytes.Load(), cpu: cpuPerRequest(cpu0, cpu1, len(all))}, nil
}

func (c *client) loop(url string, workers int, d time.Duration, record func(w int, lat time.Duration, n int64)) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				status, n, err := c.get(ctx, url)
				if ctx.Err() != nil {
					return // the round ended mid-request: not counted
				}
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("GET %s: status %d", url, status)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
				if record != nil {
					record(w, time.Since(t0), n)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// burst sends n requests at once, each on its own goroutine, and returns
// how many were answered 200.
func (c *client) burst(url string, n int) (int, error) {
	var (
		wg sync.WaitGroup
		ok atomic.Int64
		mu sync.Mutex
		e  error
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, _, err := c.get(context.Background(), url)
			if err == nil && status == http.StatusOK {
				ok.Add(1)
				return
			}
			mu.Lock()
			if e == nil {
				e = errors.Join(err, fmt.Errorf("status %d", status))
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return int(ok.Load()), e
}
