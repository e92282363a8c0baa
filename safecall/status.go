package safecall

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds on what is read of an error answer's body.
const (
	// maxExcerpt is the number of bytes read for StatusError.Body.
	maxExcerpt = 256
	// maxDrain is the number of bytes read in all (excerpt included) so that
	// the connection can be reused; a longer body is left unread and its
	// connection closed.
	maxDrain = 4 << 10
)

// StatusError is an HTTP answer with a status of 400 or more, as
// NewTransport and CheckResponse report it. Classify reads its status (401
// and 403 Auth, 429 RateLimit, 408 and 5xx but 501 Temporary, other 4xx
// Permanent) and its RetryAfter, which Call waits, capped by WithMaxWait.
//
// It holds nothing that should stay out of logs: no header, no query string,
// no user info, and only a short excerpt of the body with anything that looks
// like a secret or a personal detail redacted.
type StatusError struct {
	// StatusCode is the HTTP status code, such as 503.
	StatusCode int
	// RetryAfter is the wait asked for by the Retry-After header (seconds or
	// an HTTP-date, read against the answer's Date header); zero without one.
	RetryAfter time.Duration
	// Method is the request's method, such as "POST".
	Method string
	// URL is the request's URL without user info, query or fragment, with
	// path segments that look like tokens or numbers redacted.
	URL string
	// Body is an excerpt of the first 256 bytes of the body, on one
	// line, with tokens, keys, e-mail addresses, phone and card numbers and
	// the values of fields named like credentials replaced by "[redacted]";
	// empty when the body is empty or not UTF-8 text.
	Body string
}

// Error returns the status and the body excerpt, such as
// `HTTP 503 Service Unavailable: {"error":"upstream timeout"}`. Method and
// URL are left to whoever wraps it (http.Client adds them).
func (e *StatusError) Error() string {
	s := "HTTP " + strconv.Itoa(e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		s += " " + text
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// HTTPStatus returns the status code; Classify and vendor classifiers read it.
func (e *StatusError) HTTPStatus() int { return e.StatusCode }

// CheckResponse returns nil for a response with a status below 400 and
// leaves it untouched. For a status of 400 or more it returns a *StatusError:
// it reads the body excerpt and discards the rest of the body up to 4 KiB
// in all, so that the connection can be reused. The caller still closes the
// body, as always:
//
//	resp, err := client.Do(req)
//	if err != nil {
//		return err
//	}
//	defer resp.Body.Close()
//	if err := safecall.CheckResponse(resp); err != nil {
//		return err // Classify reads its status and Retry-After
//	}
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	return newStatusError(resp, time.Now())
}

// newStatusError builds the StatusError of resp, reading its body as
// CheckResponse does; now is the time the answer arrived.
func newStatusError(resp *http.Response, now time.Time) *StatusError {
	e := &StatusError{StatusCode: resp.StatusCode}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			now = date // the server's clock, as the Retry-After date is
		}
		e.RetryAfter = ParseRetryAfter(v, now)
	}
	if req := resp.Request; req != nil {
		e.Method = req.Method
		if req.URL != nil {
			e.URL = redactedURL(req.URL.Scheme, req.URL.Host, req.URL.EscapedPath())
		}
	}
	if resp.Body != nil {
		var buf [maxExcerpt]byte
		n, err := io.ReadFull(resp.Body, buf[:])
		more := err == nil // a full buffer: the body may go on
		e.Body = excerpt(buf[:n], more)
		if more {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain-maxExcerpt))
		}
	}
	return e
}

// redactedURL returns scheme://host/path with path segments that look like
// secrets or personal numbers redacted.
func redactedURL(scheme, host, path string) string {
	var b strings.Builder
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteString("://")
	}
	b.WriteString(host)
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(redact(seg, false))
	}
	return b.String()
}
