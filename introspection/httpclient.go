package introspection

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// pcmHTTPClient returns a copy of the caller's client that never follows
// redirects: a redirected POST would resend the caller's token or the
// client assertion to wherever PCM (or an attacker in its place) pointed.
// A 3xx is then just a non-200 answer, and fails closed.
func pcmHTTPClient(c *http.Client) (*http.Client, error) {
	if c == nil {
		return nil, errors.New("introspection: an HTTP client configured for mTLS to PCM is required")
	}
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp, nil
}

// checkEndpoint accepts only absolute https URLs: PCM is reached over mTLS
// and nothing else.
func checkEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("introspection: %s must be an absolute https URL", name)
	}
	return nil
}

// readBounded reads at most limit bytes of body and reports whether it was
// larger. The rest is drained up to a small bound so the connection can be
// reused, then closed by the caller.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

var errTooLarge = errors.New("response body exceeds the configured limit")

// drainAndClose lets net/http reuse the connection after a response we did
// not read fully, without reading an unbounded body.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4096))
	_ = body.Close()
}

// isJSON reports whether a Content-Type header names application/json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
