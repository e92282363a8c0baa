// Package safecall wraps an outbound call (a Google Calendar insert, a Twilio
// send, a plain HTTP request) so that it classifies its failures, retries the
// ones worth retrying, goes through a circuit breaker and ends with an error
// that can be logged, measured and read aloud.
//
//	ev, err := safecall.Call(ctx, "gcal.book", func(ctx context.Context) (*calendar.Event, error) {
//		return svc.Events.Insert("primary", e).Context(ctx).Do()
//	}, safecall.WithBreaker(breakers.Get(orgID)))
//	if err != nil {
//		agent.Say(safecall.UserMessage(err))
//	}
//
// # Classes
//
// Every failure gets a [Class] from [Classify] (or the classifier given with
// [WithClassifier]): [Network], [Auth], [RateLimit], [Temporary], [Permanent],
// [CircuitOpen], [Canceled], or [Unknown] when nothing is known.
//
// # Default policy
//
// Up to 3 retries after the first attempt (4 attempts in all).
// [Temporary], [RateLimit] and [Unknown] failures wait 1s, 2s, 4s (doubling
// up to 10s) with ±20% jitter; [WithJitter](0) makes the waits exact.
// A [Network] failure is retried at once the first time, then with the same
// backoff. A Retry-After hint from the error (its RetryAfter() method, which
// a vendor error can fill with [ParseRetryAfter]) replaces the backoff wait
// and is capped by [WithMaxWait] (30s by default). A wait that would end
// after the context's deadline is not started: the call fails at once with
// the last error. [Auth] is retried only with [WithTokenRefresh]: one
// refresh, one more attempt. [Permanent], [CircuitOpen] and [Canceled] are never retried.
// A call marked [WithIdempotent](false) is retried only when the failure
// proves the request was not processed (connection refused, DNS failure,
// 401/403, 429).
//
// An error nothing is known about (a plain errors.New) is [Unknown] and
// retried like [Temporary]: wrap a failure that repeating cannot fix with
// [Mark](err, [Permanent]).
//
// # Breaker
//
// With [WithBreaker] every attempt asks the breaker first. A rejection ends
// the call at once with class [CircuitOpen] and the breaker's RetryAfter;
// so does a failure after which the breaker is open for longer than the
// wait before the next attempt. Every attempt counts, so with the defaults
// (a breaker opens after 3 failures in a row) one call whose attempts all
// fail opens the breaker at its third attempt: the callers after it fail at
// once instead of each waiting 7s.
// A [Permanent] failure is reported to the breaker as a success (the
// dependency answered; one caller's bad input must not open the circuit for
// everyone); [RateLimit] (the vendor is alive and asked us to wait) and
// [Canceled] (the caller gave up) are reported as context.Canceled, which
// breakers count as neither success nor failure. A panic in the wrapped
// function is recorded as a failure and then continues to unwind.
//
// # HTTP
//
// [NewTransport] makes any http.Client classify, retry and break:
//
//	client := &http.Client{Transport: safecall.NewTransport(nil, safecall.WithBreakerFor(perTenant))}
//
// Answers of 400 and more become a [*StatusError] (status, Retry-After and a
// short redacted excerpt of the body, safe to log), which [Classify] reads;
// the bodies of those answers are drained and closed. Request bodies are
// replayed with GetBody, and a POST or PATCH is retried only when the
// failure proves it was not processed, unless it carries an Idempotency-Key
// header. When the policy gives up, http.Client returns no response and an
// error that unwraps to an [*Error] and the last [*StatusError], as
// go-retryablehttp does. [WithBreakerFor] picks a breaker per request (per
// host or per tenant). Code that calls http.Client itself turns an answer
// into the same error with [CheckResponse].
//
// The backoff is computed with github.com/cenkalti/backoff/v4, created only
// after a first failure; its types never appear in this package's API.
// A call that succeeds at once allocates nothing (WithAttemptTimeout costs
// the allocations of a context.WithTimeout per attempt).
package safecall
