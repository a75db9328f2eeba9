package caddymodule

import (
	"bytes"
	"net/http"
)

// capture buffers what the next handler (reverse_proxy) writes, so that the
// response can be checked whole before a byte of it reaches the client. A
// body larger than limit is not kept: overflow is set and the caller answers
// 502, so a partially checked body can never leave.
type capture struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func newCapture(limit int64) *capture {
	return &capture{header: http.Header{}, limit: limit}
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.overflow {
		return len(p), nil
	}
	if int64(c.body.Len())+int64(len(p)) > c.limit {
		// Keep accepting (and dropping) bytes so the proxy finishes
		// cleanly instead of logging a client write error.
		c.overflow = true
		c.body.Reset()
		return len(p), nil
	}
	return c.body.Write(p)
}

// Flush is a no-op: nothing may be sent before the whole body is checked.
func (c *capture) Flush() {}

func (c *capture) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}
