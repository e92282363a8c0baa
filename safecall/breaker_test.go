package safecall_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// countingBreaker wraps a breaker and counts what goes through it.
type countingBreaker struct {
	b        safecall.Breaker
	allowed  atomic.Int32
	rejected atomic.Int32
	outcomes []error
}

func (c *countingBreaker) Allow() (func(error), error) {
	done, err := c.b.Allow()
	if err != nil {
		c.rejected.Add(1)
		return nil, err
	}
	c.allowed.Add(1)
	return func(err error) {
		c.outcomes = append(c.outcomes, err)
		done(err)
	}, nil
}

func TestBreakerSeesEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e503 := &statusError{code: 503}
		b := &countingBreaker{b: breaker.New(breaker.Settings{ConsecutiveFailures: 10})}
		s := newScript(e503, e503)
		_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b))
		require.NoError(t, err)
		assert.Equal(t, int32(3), b.allowed.Load())
		assert.Equal(t, []error{e503, e503, nil}, b.outcomes)
	})
}

func TestBreakerOpensDuringRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 3, Cooldown: time.Minute})
		s := newScript(repeat(&statusError{code: 503}, 9)...)
		start := time.Now()
		_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b), safecall.WithJitter(0))
		// Attempts at 0s, 1s, 3s; the third failure opens the breaker for a
		// minute: the call ends at once instead of waiting 4s to be refused.
		assert.Equal(t, 3, s.attempts())
		assert.Equal(t, 3*time.Second, time.Since(start))
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.CircuitOpen, e.Class)
		assert.Equal(t, 3, e.Attempts)
		assert.Equal(t, time.Minute, e.RetryAfter)
		assert.ErrorIs(t, err, breaker.ErrOpen)
		var se *statusError
		require.ErrorAs(t, err, &se, "the vendor's last error is still there")
		assert.Equal(t, 503, se.code)
		assert.Equal(t, breaker.Open, b.State())
	})
}

func TestBreakerRejectsRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A breaker seen only through Allow: the rejection comes when the
		// fourth attempt asks, after the 4s wait.
		b := &countingBreaker{b: breaker.New(breaker.Settings{ConsecutiveFailures: 3, Cooldown: time.Minute})}
		s := newScript(repeat(&statusError{code: 503}, 9)...)
		start := time.Now()
		_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b), safecall.WithJitter(0))
		assert.Equal(t, 3, s.attempts())
		assert.Equal(t, 7*time.Second, time.Since(start))
		assert.Equal(t, int32(1), b.rejected.Load())
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.CircuitOpen, e.Class)
		assert.Equal(t, 3, e.Attempts)
		assert.Equal(t, time.Minute-4*time.Second, e.RetryAfter)
		var se *statusError
		require.ErrorAs(t, err, &se, "the vendor's last error is still there")
		assert.ErrorIs(t, err, breaker.ErrOpen)
	})
}

func TestBreakerReopensBeforeWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A breaker whose cooldown ends before the wait does: Call waits and
		// the next attempt is the half-open probe.
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 1, Cooldown: 500 * time.Millisecond})
		s := newScript(&statusError{code: 503})
		_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b), safecall.WithJitter(0))
		require.NoError(t, err)
		assert.Equal(t, 2, s.attempts())
		assert.Equal(t, []time.Duration{time.Second}, s.waits())
		assert.Equal(t, breaker.Closed, b.State())
	})
}

func TestBreakerReopensAsWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The cooldown ends exactly when the wait does: the next attempt is
		// the probe, not a rejection.
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Second})
		s := newScript(&statusError{code: 503})
		_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b), safecall.WithJitter(0))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{time.Second}, s.waits())
		assert.Equal(t, breaker.Closed, b.State())
	})
}

func TestOpenBreakerRefusesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 1, Cooldown: 30 * time.Second})
		_, err := safecall.Call(t.Context(), "op", newScript(repeat(&statusError{code: 500}, 9)...).fn,
			safecall.WithBreaker(b), safecall.WithRetries(0))
		require.Error(t, err)
		require.Equal(t, breaker.Open, b.State())

		time.Sleep(10 * time.Second)
		s := newScript()
		start := time.Now()
		_, err = safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b))
		assert.Zero(t, time.Since(start))
		assert.Equal(t, 0, s.attempts())
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.CircuitOpen, e.Class)
		assert.Equal(t, 0, e.Attempts)
		assert.Equal(t, 20*time.Second, e.RetryAfter)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)

		// After the cooldown the probe goes through and closes the breaker.
		time.Sleep(20 * time.Second)
		v, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithBreaker(b))
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, breaker.Closed, b.State())
	})
}

func TestPermanentDoesNotTripBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 2})
		for range 10 {
			_, err := safecall.Call(t.Context(), "sms.send", newScript(&statusError{code: 400}).fn, safecall.WithBreaker(b))
			require.Equal(t, safecall.Permanent, safecall.ClassOf(err))
		}
		assert.Equal(t, breaker.Closed, b.State())
		assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures)
	})
}

func TestCanceledIsNeutralForBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 5})
		_, err := safecall.Call(t.Context(), "op", newScript(&statusError{code: 503}).fn,
			safecall.WithBreaker(b), safecall.WithRetries(0))
		require.Error(t, err)
		require.Equal(t, 1, b.Snapshot().ConsecutiveFailures)

		cb := &countingBreaker{b: b}
		ctx, cancel := context.WithCancel(t.Context())
		_, err = safecall.Call(ctx, "op", func(ctx context.Context) (int, error) {
			cancel()
			return 0, errors.New("request aborted") // however the client words it
		}, safecall.WithBreaker(cb))
		assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
		assert.Equal(t, []error{context.Canceled}, cb.outcomes)
		assert.Equal(t, 1, b.Snapshot().ConsecutiveFailures, "neither failure nor success")
	})
}

func TestPanicRecordedThenPropagated(t *testing.T) {
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 5})
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = safecall.Call(context.Background(), "op", func(context.Context) (int, error) {
			panic("boom")
		}, safecall.WithBreaker(b))
	})
	assert.Equal(t, 1, b.Snapshot().ConsecutiveFailures)

	// Without a breaker too, with an attempt timeout to release.
	assert.PanicsWithValue(t, "boom", func() {
		_ = safecall.Run(context.Background(), "op", func(context.Context) error { panic("boom") },
			safecall.WithAttemptTimeout(time.Second))
	})
}

func TestPanicIsAFailureWhateverIsFailureSays(t *testing.T) {
	// A breaker that counts only some errors as failures still counts a panic.
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 1, IsFailure: func(err error) bool {
		var se *statusError
		return errors.As(err, &se) && se.code >= 500
	}})
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = safecall.Call(context.Background(), "op", func(context.Context) (int, error) {
			panic("boom")
		}, safecall.WithBreaker(b))
	})
	assert.Equal(t, breaker.Open, b.State())
}

func TestNilBreakerInterface(t *testing.T) {
	s := newScript()
	_, err := safecall.Call(context.Background(), "op", s.fn, safecall.WithBreaker(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, s.attempts())
}

func TestClassifierPanicRecordedByBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A half-open breaker admits one probe. A classifier that panics on
		// the probe's failure must not leave the probe unreported, or the
		// breaker refuses everyone for another cooldown.
		b := breaker.New(breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Second})
		_, err := safecall.Call(t.Context(), "op", newScript(&statusError{code: 503}).fn,
			safecall.WithBreaker(b), safecall.WithRetries(0))
		require.Error(t, err)
		time.Sleep(time.Second)
		require.Equal(t, breaker.HalfOpen, b.State())

		cb := &countingBreaker{b: b}
		assert.PanicsWithValue(t, "bad classifier", func() {
			_, _ = safecall.Call(t.Context(), "op", newScript(errors.New("odd")).fn, safecall.WithBreaker(cb),
				safecall.WithClassifier(func(error) safecall.Class { panic("bad classifier") }))
		})
		require.Len(t, cb.outcomes, 1, "the probe was reported")
		assert.Error(t, cb.outcomes[0], "as a failure")
		assert.Equal(t, breaker.Open, b.State())
	})
}

func TestRateLimitIsNeutralForBreaker(t *testing.T) {
	e429 := &statusError{code: 429, ra: 2 * time.Second}
	e503 := &statusError{code: 503}
	t.Run("429 with Retry-After does not open the tenant's breaker", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New(breaker.Settings{}) // the defaults: 3 failures in a row
			cb := &countingBreaker{b: b}
			s := newScript(e429, e429, e429)
			start := time.Now()
			v, err := safecall.Call(t.Context(), "gcal.book", s.fn, safecall.WithBreaker(cb))
			require.NoError(t, err, "busy is not unavailable")
			assert.Equal(t, "ok", v)
			assert.Equal(t, 4, s.attempts())
			assert.Equal(t, 6*time.Second, time.Since(start), "each retry waits as the vendor asked")
			assert.Equal(t, []error{context.Canceled, context.Canceled, context.Canceled, nil}, cb.outcomes,
				"reported as context.Canceled, which breakers count as neither")
			assert.Equal(t, breaker.Closed, b.State())
		})
	})
	t.Run("neither resets nor adds to a run of failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New(breaker.Settings{})
			_, err := safecall.Call(t.Context(), "gcal.book", newScript(e503, e429, e503).fn,
				safecall.WithBreaker(b), safecall.WithRetries(2))
			require.Error(t, err)
			assert.Equal(t, breaker.Closed, b.State())
			assert.Equal(t, 2, b.Snapshot().ConsecutiveFailures)
		})
	})
}

func TestOneFailedCallOpensDefaultBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The documented default: a breaker with zero Settings opens after 3
		// failures in a row, and a call with the default policy makes up to
		// 4 attempts, so one call that fails throughout opens it (at its
		// third attempt, 3s in) and the next caller fails at once instead of
		// waiting 7s too.
		b := breaker.New(breaker.Settings{})
		s := newScript(repeat(&statusError{code: 503}, 9)...)
		start := time.Now()
		_, err := safecall.Call(t.Context(), "gcal.book", s.fn, safecall.WithBreaker(b), safecall.WithJitter(0))
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.Equal(t, 3, s.attempts())
		assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
		assert.Equal(t, breaker.Open, b.State())

		start = time.Now()
		_, err = safecall.Call(t.Context(), "gcal.book", s.fn, safecall.WithBreaker(b))
		assert.Zero(t, time.Since(start), "the next caller fails fast")
		assert.Equal(t, 3, s.attempts())
		assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
	})
}
