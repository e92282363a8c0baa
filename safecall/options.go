package safecall

import (
	"context"
	"net/http"
	"time"
)

// Defaults of the retry policy.
const (
	// DefaultRetries is the number of retries after the first attempt.
	DefaultRetries = 3
	// DefaultInitialWait is the first backoff wait; each next one doubles.
	DefaultInitialWait = time.Second
	// DefaultMaxBackoff is where the doubling of backoff waits stops
	// (before jitter).
	DefaultMaxBackoff = 10 * time.Second
	// DefaultJitter spreads each backoff wait by ±20%.
	DefaultJitter = 0.2
	// DefaultMaxWait caps any single wait, Retry-After hints included.
	DefaultMaxWait = 30 * time.Second
)

// Breaker is what WithBreaker needs of a circuit breaker: the two-step
// Allow of *breaker.Breaker. Allow returns an error when the call must not
// be made; otherwise the caller makes it and passes its outcome to done.
type Breaker interface {
	Allow() (done func(error), err error)
}

// RetryEvent describes a failed attempt that is about to be retried.
type RetryEvent struct {
	// Op is the operation name given to Call.
	Op string
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Class is the class of the failure.
	Class Class
	// Err is the error the attempt returned.
	Err error
	// Wait is how long Call waits before the next attempt.
	Wait time.Duration
}

// Option changes how Call behaves. Options are plain values: building them
// costs nothing and the zero Option changes nothing.
type Option struct {
	kind  optionKind
	class Class
	flag  bool
	n     int
	d1    time.Duration
	d2    time.Duration
	f     float64
	s     string
	brk   Breaker
	fn    any
}

type optionKind uint8

const (
	optNone optionKind = iota
	optRetries
	optBackoff
	optJitter
	optMaxWait
	optAttemptTimeout
	optClassifier
	optBreaker
	optTokenRefresh
	optOnRetry
	optUserMessage
	optIdempotent
	optBreakerFor
)

// WithRetries sets how many times a failed call is retried after its first
// attempt (default DefaultRetries; 0 disables retries, negative counts as 0).
// It does not limit the single retry after a token refresh.
func WithRetries(n int) Option { return Option{kind: optRetries, n: max(n, 0)} }

// WithBackoff sets the first backoff wait and the longest one (defaults
// DefaultInitialWait and DefaultMaxBackoff). Waits double from initial up to
// max. A zero argument keeps its default; a max below initial is raised to it.
func WithBackoff(initial, max time.Duration) Option {
	return Option{kind: optBackoff, d1: initial, d2: max}
}

// WithJitter sets the randomization of backoff waits: each wait is drawn from
// [w·(1-f), w·(1+f)]. f is clamped to [0, 1] (NaN counts as 0); 0 gives
// exact waits. The default is DefaultJitter.
func WithJitter(f float64) Option {
	if !(f > 0) { // also NaN, which min and max would pass through
		f = 0
	}
	return Option{kind: optJitter, f: min(f, 1)}
}

// WithMaxWait caps any single wait before a retry, including a Retry-After
// asked for by the server (default DefaultMaxWait). Zero keeps the default.
func WithMaxWait(d time.Duration) Option { return Option{kind: optMaxWait, d1: d} }

// WithAttemptTimeout bounds each attempt. An attempt that runs out of its own
// time is Temporary; the caller's context still bounds the whole call.
func WithAttemptTimeout(d time.Duration) Option { return Option{kind: optAttemptTimeout, d1: d} }

// WithClassifier replaces Classify for this call. A vendor classifier
// usually handles its own error types and falls back on Classify.
func WithClassifier(fn func(error) Class) Option { return Option{kind: optClassifier, fn: fn} }

// WithBreaker makes every attempt go through b, typically a *breaker.Breaker
// kept per tenant and dependency (breakers.Get(orgID)). A nil interface
// value means no breaker.
//
// Every attempt is reported to b, not every call: with the defaults (a
// breaker.Settings{} breaker opens after 3 failures in a row; a call makes
// up to 4 attempts) one call whose attempts all fail opens the breaker at
// its third attempt and ends there, with class CircuitOpen. That is the
// protection: the callers after it fail at once for the breaker's cooldown
// instead of each waiting 7s through the same outage. To need several
// failing calls, raise breaker.Settings.ConsecutiveFailures or use its
// FailureRatio.
//
// Permanent failures are reported as successes (the dependency answered);
// RateLimit and Canceled as context.Canceled, which breakers count as
// neither: a 429 means the vendor is alive and Call waits as it asked.
func WithBreaker(b Breaker) Option { return Option{kind: optBreaker, brk: b} }

// WithTokenRefresh makes an Auth failure call fn once and retry once; a
// second Auth failure is final. To merge the refreshes of concurrent calls
// that share a credential, pass the Refresh method of a Refresher kept per
// credential: WithTokenRefresh(r.Refresh).
func WithTokenRefresh(fn func(context.Context) error) Option {
	return Option{kind: optTokenRefresh, fn: fn}
}

// WithOnRetry calls fn before each wait for a retry, for logs and metrics.
// fn runs on the calling goroutine and must not block.
func WithOnRetry(fn func(RetryEvent)) Option { return Option{kind: optOnRetry, fn: fn} }

// WithUserMessage replaces the sentence UserMessage gives for a failure of
// class c ended by this call.
func WithUserMessage(c Class, msg string) Option {
	return Option{kind: optUserMessage, class: c, s: msg}
}

// WithBreakerFor makes NewTransport pick the breaker of each request with
// fn, typically one per host or per tenant:
//
//	safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
//		return breakers.Get(r.URL.Host)
//	})
//
// A nil result means no breaker for that request. Of WithBreaker and
// WithBreakerFor, the last one given wins. Call ignores it.
func WithBreakerFor(fn func(*http.Request) Breaker) Option {
	return Option{kind: optBreakerFor, fn: fn}
}

// WithIdempotent says whether the call can safely be repeated (default true).
// A call that is not idempotent, such as sending a text message, is retried
// only when the failure proves the request was not processed: connection
// refused, DNS failure, 401/403 (with WithTokenRefresh) or 429. A timeout
// after the request was sent, a reset connection or a 5xx is final.
// NewTransport decides per request (by method and Idempotency-Key header)
// unless WithIdempotent is given, which then holds for every request.
func WithIdempotent(ok bool) Option { return Option{kind: optIdempotent, flag: ok} }

// config is built by value on the caller's stack from the options.
// WithUserMessage is not loaded: only a failed call needs it, and Call
// looks it up once, as it returns (see Error.withMessage); a table of
// sentences here would cost every successful call its zeroing.
type config struct {
	retries        int
	initial        time.Duration
	maxBackoff     time.Duration
	jitter         float64
	maxWait        time.Duration
	attemptTimeout time.Duration
	classify       func(error) Class
	breaker        Breaker
	refresh        func(context.Context) error
	onRetry        func(RetryEvent)
	notIdempotent  bool
	idempotentSet  bool // WithIdempotent was given
	breakerFor     func(*http.Request) Breaker
}

func (c *config) load(opts []Option) {
	c.retries = DefaultRetries
	c.initial = DefaultInitialWait
	c.maxBackoff = DefaultMaxBackoff
	c.jitter = DefaultJitter
	c.maxWait = DefaultMaxWait
	for i := range opts {
		o := &opts[i]
		switch o.kind {
		case optRetries:
			c.retries = o.n
		case optBackoff:
			if o.d1 > 0 {
				c.initial = o.d1
			}
			if o.d2 > 0 {
				c.maxBackoff = o.d2
			}
		case optJitter:
			c.jitter = o.f
		case optMaxWait:
			if o.d1 > 0 {
				c.maxWait = o.d1
			}
		case optAttemptTimeout:
			c.attemptTimeout = o.d1
		case optClassifier:
			c.classify, _ = o.fn.(func(error) Class)
		case optBreaker:
			c.breaker, c.breakerFor = o.brk, nil
		case optBreakerFor:
			c.breakerFor, _ = o.fn.(func(*http.Request) Breaker)
			c.breaker = nil
		case optTokenRefresh:
			c.refresh, _ = o.fn.(func(context.Context) error)
		case optOnRetry:
			c.onRetry, _ = o.fn.(func(RetryEvent))
		case optIdempotent:
			c.notIdempotent, c.idempotentSet = !o.flag, true
		}
	}
	c.maxBackoff = max(c.maxBackoff, c.initial)
}
