package safecall

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// NewTransport returns an http.RoundTripper that makes any http.Client
// classify, retry and break with the policy of Call and the given options.
// It sends each request through inner (http.DefaultTransport when nil).
//
//	client := &http.Client{Transport: safecall.NewTransport(nil, safecall.WithBreakerFor(perHost))}
//
// An answer with a status of 400 or more becomes a *StatusError (status,
// Retry-After, a short redacted excerpt of the body), classified by the
// classifier; the body of such an answer is read (up to 4 KiB, so that
// the connection can be reused) and closed, whether it is retried or final.
// Answers below 400 are returned as they are: 2xx, 304 Not Modified, and
// the redirects that http.Client follows itself.
//
// When the policy gives up (all retries of a 503, say) the caller of
// http.Client gets no response and an error: a *url.Error (added by
// http.Client) that unwraps to an *Error (Class, Attempts, RetryAfter) that
// unwraps to the last *StatusError or transport error; ClassOf and
// UserMessage read it. That is what users of go-retryablehttp know ("giving
// up after 4 attempt(s)", the last body drained, no response) and what
// failsafehttp does too (a retrypolicy.ExceededError, no response), and
// net/http's contract allows nothing else: http.Client drops a response
// that comes with an error. Handing back the last 503 with a nil error
// would make it look like a success to code that checks only err; the
// StatusError keeps what the caller needs of it (status, Retry-After, an
// excerpt of the body).
//
// The request's context bounds everything: attempts, waits and refreshes. A
// wait that would end after its deadline is not started. The body of a
// request is sent again with req.GetBody (which http.NewRequest sets for
// bytes, strings and their readers); a request whose body cannot be
// replayed is sent once. Each attempt goes through the breaker of
// WithBreakerFor (or WithBreaker).
//
// Requests whose method is not idempotent (POST, PATCH, ...) are treated as
// WithIdempotent(false) unless they carry an Idempotency-Key (or
// X-Idempotency-Key) header: they are retried only when the failure proves
// the request was not processed (connection refused, 429, ...). GET, HEAD,
// OPTIONS, TRACE, PUT and DELETE are idempotent. WithIdempotent, if given,
// overrides this for every request.
//
// WithAttemptTimeout bounds each attempt until its response body is closed,
// like http.Client.Timeout. The op of errors and retry events is the
// method and host, such as "POST api.twilio.com".
func NewTransport(inner http.RoundTripper, opts ...Option) http.RoundTripper {
	if inner == nil {
		inner = http.DefaultTransport
	}
	var c config
	c.load(opts)
	t := &transport{
		inner:          inner,
		attemptTimeout: c.attemptTimeout,
		breakerFor:     c.breakerFor,
		idempotentSet:  c.idempotentSet,
	}
	classify := c.classify
	if classify == nil {
		classify = Classify
	}
	// The transport bounds attempts itself, so that a response body can be
	// read after RoundTrip returns, and its timeouts are Temporary.
	t.opts = append(slices.Clip(opts), WithAttemptTimeout(0), WithClassifier(func(err error) Class {
		if _, ok := err.(*attemptTimeoutError); ok {
			return Temporary
		}
		return classify(err)
	}))
	return t
}

type transport struct {
	inner          http.RoundTripper
	opts           []Option // the caller's, then the transport's own
	attemptTimeout time.Duration
	breakerFor     func(*http.Request) Breaker
	idempotentSet  bool
}

// RoundTrip sends req with retries; see NewTransport.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Options for this request, after (and so over) the transport's.
	var more [4]Option
	n := 0
	if t.breakerFor != nil {
		more[n], n = WithBreaker(t.breakerFor(req)), n+1
	}
	if !t.idempotentSet && !idempotent(req) {
		more[n], n = WithIdempotent(false), n+1
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// The body can be sent once, and not after a refresh either.
		more[n], more[n+1], n = WithRetries(0), WithTokenRefresh(nil), n+2
	}
	opts := t.opts
	if n > 0 {
		var buf [8]Option // on the stack unless the options are many
		opts = append(append(buf[:0], t.opts...), more[:n]...)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	rt := &roundTrip{t: t, req: req}
	resp, err := Call(req.Context(), method+" "+req.URL.Host, rt.attempt, opts...)
	if rt.sent == 0 && req.Body != nil {
		_ = req.Body.Close() // RoundTrip closes the body, even when it sends nothing
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the inner transport,
// for http.Client.CloseIdleConnections.
func (t *transport) CloseIdleConnections() {
	if ci, ok := t.inner.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// idempotent reports whether req may be sent twice: its method is
// idempotent (RFC 9110, 9.2.2) or it carries an idempotency key.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// roundTrip is one request going through the transport.
type roundTrip struct {
	t    *transport
	req  *http.Request
	sent int // attempts handed to the inner transport
}

// attempt sends the request once; ctx is the request's context.
func (rt *roundTrip) attempt(ctx context.Context) (*http.Response, error) {
	req := rt.req
	if rt.sent > 0 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, Mark(fmt.Errorf("safecall: replaying the request body: %w", err), Permanent)
		}
		r := *req
		r.Body = body
		req = &r
	}
	rt.sent++
	cancel := context.CancelFunc(nil)
	actx := ctx
	if d := rt.t.attemptTimeout; d > 0 {
		actx, cancel = context.WithTimeout(ctx, d)
		req = req.WithContext(actx)
	}
	resp, err := rt.t.inner.RoundTrip(req)
	switch {
	case err != nil:
		if cancel != nil {
			timedOut := actx.Err() != nil && ctx.Err() == nil
			cancel()
			if timedOut {
				return nil, &attemptTimeoutError{after: rt.t.attemptTimeout, err: err}
			}
		}
		return nil, err
	case resp.StatusCode >= 400:
		se := newStatusError(resp, time.Now())
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
		if cancel != nil {
			cancel()
		}
		return nil, se
	case cancel != nil && resp.StatusCode == http.StatusSwitchingProtocols:
		cancel() // the connection now belongs to the caller
	case cancel != nil:
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// cancelBody ends an attempt's context when the response body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// attemptTimeoutError is the failure of an attempt that ran out of the time
// WithAttemptTimeout gives it: Temporary, whatever the classifier says.
type attemptTimeoutError struct {
	after time.Duration
	err   error
}

func (e *attemptTimeoutError) Error() string {
	return "attempt timed out after " + roundDuration(e.after).String() + ": " + e.err.Error()
}

func (e *attemptTimeoutError) Unwrap() error { return e.err }
