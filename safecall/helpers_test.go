package safecall_test

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/voxanne/resilience/safecall"
)

// statusError is a vendor-style HTTP error: it exposes StatusCode and
// RetryAfter like the errors of an SDK.
type statusError struct {
	code int
	ra   time.Duration
}

func (e *statusError) Error() string             { return "HTTP " + strconv.Itoa(e.code) }
func (e *statusError) StatusCode() int           { return e.code }
func (e *statusError) RetryAfter() time.Duration { return e.ra }

// httpStatusError exposes HTTPStatus instead of StatusCode.
type httpStatusError int

func (e httpStatusError) Error() string   { return "status " + strconv.Itoa(int(e)) }
func (e httpStatusError) HTTPStatus() int { return int(e) }

// retryAfterError carries only a Retry-After hint.
type retryAfterError time.Duration

func (e retryAfterError) Error() string             { return "come back later" }
func (e retryAfterError) RetryAfter() time.Duration { return time.Duration(e) }

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// script is a function whose successive calls return the scripted errors,
// then succeed; it records when each call started.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls []time.Time
}

func newScript(errs ...error) *script { return &script{errs: errs} }

func (s *script) fn(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.calls)
	s.calls = append(s.calls, time.Now())
	if n < len(s.errs) && s.errs[n] != nil {
		return "", s.errs[n]
	}
	return "ok", nil
}

// repeat returns n copies of err.
func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func (s *script) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// waits returns the time between successive calls.
func (s *script) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w []time.Duration
	for i := 1; i < len(s.calls); i++ {
		w = append(w, s.calls[i].Sub(s.calls[i-1]))
	}
	return w
}

// events collects retry events.
type events struct {
	mu sync.Mutex
	ev []safecall.RetryEvent
}

func (e *events) add(ev safecall.RetryEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) waits() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var w []time.Duration
	for _, ev := range e.ev {
		w = append(w, ev.Wait)
	}
	return w
}

func (e *events) classes() []safecall.Class {
	e.mu.Lock()
	defer e.mu.Unlock()
	var c []safecall.Class
	for _, ev := range e.ev {
		c = append(c, ev.Class)
	}
	return c
}
