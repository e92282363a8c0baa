package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/avast/retry-go/v5"
	"github.com/cenkalti/backoff/v4"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/sony/gobreaker/v2"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// BenchmarkRetry measures a call that succeeds at once, wrapped by each
// library with its usual policy: the price every healthy call pays.
// Each peer is configured like safecall's default (up to 3 retries,
// exponential backoff from 1s) and built the way its users write it.
// Compare with: go tool benchstat -col /impl new.txt (or -filter /policy:retry+breaker).
func BenchmarkRetry(b *testing.B) {
	ctx := context.Background()
	succeed := func() (int, error) { return 1, nil }
	succeedCtx := func(context.Context) (int, error) { return 1, nil }
	check := func(b *testing.B, v int, err error) {
		if err != nil || v != 1 {
			b.Fatalf("got %d, %v", v, err)
		}
	}

	// safecall with a breaker passed inline, as users write it.
	b.Run("impl=safecall/policy=retry+breaker", func(b *testing.B) {
		br := breaker.New(breaker.Settings{})
		b.ReportAllocs()
		for b.Loop() {
			v, err := safecall.Call(ctx, "bench", succeedCtx, safecall.WithBreaker(br))
			check(b, v, err)
		}
	})

	// safecall with no breaker.
	b.Run("impl=safecall/policy=retry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := safecall.Call(ctx, "bench", succeedCtx)
			check(b, v, err)
		}
	})

	// failsafe-go: retry policy and circuit breaker built once, executor per call.
	b.Run("impl=failsafe/policy=retry+breaker", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[int]().
			WithMaxRetries(3).
			WithBackoff(time.Second, 10*time.Second).
			WithJitterFactor(0.2).
			Build()
		cb := circuitbreaker.NewWithDefaults[int]()
		b.ReportAllocs()
		for b.Loop() {
			v, err := failsafe.With[int](rp, cb).Get(succeed)
			check(b, v, err)
		}
	})

	// backoff/v4: a new ExponentialBackOff per call (it is not goroutine-safe),
	// limited to 3 retries and bound to the context.
	b.Run("impl=backoff/policy=retry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(time.Second))
			v, err := backoff.RetryNotifyWithData(succeed, backoff.WithContext(backoff.WithMaxRetries(bo, 3), ctx), nil)
			check(b, v, err)
		}
	})

	// backoff/v4 around a gobreaker v2 breaker: retry plus breaker by hand.
	b.Run("impl=backoff+gobreaker/policy=retry+breaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{Name: "bench"})
		op := func() (int, error) { return cb.Execute(succeed) }
		b.ReportAllocs()
		for b.Loop() {
			bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(time.Second))
			v, err := backoff.RetryNotifyWithData(op, backoff.WithContext(backoff.WithMaxRetries(bo, 3), ctx), nil)
			check(b, v, err)
		}
	})

	// retry-go v5: one retrier built once and reused (no breaker).
	b.Run("impl=retry-go/policy=retry", func(b *testing.B) {
		r := retry.NewWithData[int](retry.Attempts(4), retry.Delay(time.Second), retry.Context(ctx))
		b.ReportAllocs()
		for b.Loop() {
			v, err := r.Do(succeed)
			check(b, v, err)
		}
	})
}
