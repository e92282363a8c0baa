package safecall_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func TestCallSucceedsAtOnce(t *testing.T) {
	s := newScript()
	v, err := safecall.Call(context.Background(), "op", s.fn)
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
	assert.Equal(t, 1, s.attempts())
}

func TestRetrySchedule(t *testing.T) {
	e503 := &statusError{code: 503}
	refused := opErr("dial", syscall.ECONNREFUSED)
	tests := []struct {
		name      string
		errs      []error
		opts      []safecall.Option
		wantErr   bool
		class     safecall.Class
		attempts  int
		waits     []time.Duration
		retryWait time.Duration // RetryAfter of the final error
	}{
		{
			name: "temporary exhausts 1s 2s 4s", errs: repeat(e503, 9),
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "unknown like temporary", errs: repeat(errors.New("odd"), 9),
			wantErr: true, class: safecall.Unknown, attempts: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "rate limit without hint", errs: repeat(&statusError{code: 429}, 9),
			wantErr: true, class: safecall.RateLimit, attempts: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "network at once then backoff", errs: repeat(refused, 9),
			wantErr: true, class: safecall.Network, attempts: 4,
			waits: []time.Duration{0, time.Second, 2 * time.Second},
		},
		{
			name: "recovers on third attempt", errs: []error{e503, e503},
			attempts: 3, waits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "network then temporary", errs: []error{refused, e503, refused},
			attempts: 4, waits: []time.Duration{0, time.Second, 2 * time.Second},
		},
		{
			name: "permanent not retried", errs: repeat(&statusError{code: 400}, 9),
			wantErr: true, class: safecall.Permanent, attempts: 1,
		},
		{
			name: "auth not retried without refresh", errs: repeat(&statusError{code: 401}, 9),
			wantErr: true, class: safecall.Auth, attempts: 1,
		},
		{
			name: "canceled not retried", errs: repeat(fmt.Errorf("x: %w", context.Canceled), 9),
			wantErr: true, class: safecall.Canceled, attempts: 1,
		},
		{
			name: "circuit open not retried", errs: repeat(&breaker.OpenError{RetryAfter: time.Minute}, 9),
			wantErr: true, class: safecall.CircuitOpen, attempts: 1, retryWait: time.Minute,
		},
		{
			name: "no retries", errs: repeat(e503, 9), opts: []safecall.Option{safecall.WithRetries(0)},
			wantErr: true, class: safecall.Temporary, attempts: 1,
		},
		{
			name: "negative retries", errs: repeat(e503, 9), opts: []safecall.Option{safecall.WithRetries(-5)},
			wantErr: true, class: safecall.Temporary, attempts: 1,
		},
		{
			name: "five retries", errs: repeat(e503, 9), opts: []safecall.Option{safecall.WithRetries(5)},
			wantErr: true, class: safecall.Temporary, attempts: 6,
			waits: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second},
		},
		{
			name: "custom backoff", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithBackoff(100*time.Millisecond, 250*time.Millisecond)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond},
		},
		{
			name: "max wait caps backoff", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithMaxWait(1500 * time.Millisecond)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond},
		},
		{
			name: "retry-after replaces backoff", errs: []error{&statusError{code: 429, ra: 5 * time.Second}, e503},
			attempts: 3, waits: []time.Duration{5 * time.Second, 2 * time.Second},
		},
		{
			name: "retry-after capped by default max wait", errs: []error{&statusError{code: 429, ra: 2 * time.Minute}},
			attempts: 2, waits: []time.Duration{30 * time.Second},
		},
		{
			name: "retry-after capped by max wait", errs: []error{&statusError{code: 503, ra: time.Hour}},
			opts:     []safecall.Option{safecall.WithMaxWait(10 * time.Second)},
			attempts: 2, waits: []time.Duration{10 * time.Second},
		},
		{
			name: "final error keeps retry-after", errs: repeat(&statusError{code: 429, ra: 3 * time.Second}, 9),
			wantErr: true, class: safecall.RateLimit, attempts: 4, retryWait: 3 * time.Second,
			waits: []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second},
		},
		{
			name: "classifier", errs: repeat(errors.New("invalid number"), 9),
			opts: []safecall.Option{safecall.WithClassifier(func(err error) safecall.Class {
				return safecall.Permanent
			})},
			wantErr: true, class: safecall.Permanent, attempts: 1,
		},
		{
			name: "jitter is clamped", errs: []error{e503, e503},
			opts: []safecall.Option{safecall.WithJitter(math.NaN())}, attempts: 3,
			waits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "negative jitter is none", errs: []error{e503, e503},
			opts: []safecall.Option{safecall.WithJitter(0.5), safecall.WithJitter(-1)}, attempts: 3,
			waits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "backoff zero initial keeps the default", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithBackoff(0, 3*time.Second)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
		},
		{
			name: "backoff zero max keeps the default", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithBackoff(3*time.Second, 0)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second},
		},
		{
			name: "backoff negative keeps the defaults", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithBackoff(-time.Second, -time.Second)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "backoff max below initial is raised", errs: repeat(e503, 9),
			opts:    []safecall.Option{safecall.WithBackoff(2*time.Second, time.Second)},
			wantErr: true, class: safecall.Temporary, attempts: 4,
			waits: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
		},
		{
			name: "max wait zero keeps the default", errs: []error{&statusError{code: 429, ra: 20 * time.Second}, e503},
			opts:     []safecall.Option{safecall.WithMaxWait(0)},
			attempts: 3, waits: []time.Duration{20 * time.Second, 2 * time.Second},
		},
		{
			name: "max wait negative keeps the default", errs: []error{&statusError{code: 429, ra: time.Hour}},
			opts:     []safecall.Option{safecall.WithMaxWait(-time.Second)},
			attempts: 2, waits: []time.Duration{30 * time.Second},
		},
		{
			name: "zero option changes nothing", errs: []error{e503},
			opts: []safecall.Option{{}}, attempts: 2, waits: []time.Duration{time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScript(tt.errs...)
				var ev events
				opts := append([]safecall.Option{safecall.WithJitter(0), safecall.WithOnRetry(ev.add)}, tt.opts...)
				start := time.Now()
				v, err := safecall.Call(t.Context(), "gcal.book", s.fn, opts...)
				assert.Equal(t, tt.attempts, s.attempts(), "attempts")
				assert.Equal(t, tt.waits, s.waits(), "waits between attempts")
				assert.Equal(t, tt.waits, ev.waits(), "waits in retry events")
				var total time.Duration
				for _, w := range tt.waits {
					total += w
				}
				assert.Equal(t, total, time.Since(start), "time spent")
				if !tt.wantErr {
					require.NoError(t, err)
					assert.Equal(t, "ok", v)
					return
				}
				require.Error(t, err)
				assert.Empty(t, v)
				var e *safecall.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "gcal.book", e.Op)
				assert.Equal(t, tt.class, e.Class)
				assert.Equal(t, tt.attempts, e.Attempts)
				assert.Equal(t, tt.retryWait, e.RetryAfter)
				assert.Equal(t, tt.errs[tt.attempts-1], e.Err, "last error")
				assert.Equal(t, tt.class, safecall.ClassOf(err))
			})
		})
	}
}

func TestRetryEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e429 := &statusError{code: 429, ra: 2 * time.Second}
		refused := opErr("dial", syscall.ECONNREFUSED)
		s := newScript(refused, e429)
		var ev events
		_, err := safecall.Call(t.Context(), "sms.send", s.fn, safecall.WithOnRetry(ev.add))
		require.NoError(t, err)
		assert.Equal(t, []safecall.RetryEvent{
			{Op: "sms.send", Attempt: 1, Class: safecall.Network, Err: refused, Wait: 0},
			{Op: "sms.send", Attempt: 2, Class: safecall.RateLimit, Err: e429, Wait: 2 * time.Second},
		}, ev.ev)
	})
}

func TestDefaultJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		distinct := map[time.Duration]bool{}
		for range 20 {
			s := newScript(repeat(&statusError{code: 503}, 9)...)
			_, err := safecall.Call(t.Context(), "op", s.fn)
			require.Error(t, err)
			waits := s.waits()
			require.Len(t, waits, 3)
			for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
				assert.InDelta(t, float64(base), float64(waits[i]), float64(base)/5+1, "wait %d", i)
			}
			distinct[waits[0]] = true
		}
		// 20 draws from [0.8s, 1.2s]: the same value every time would mean
		// no jitter at all.
		assert.Greater(t, len(distinct), 10, "the first wait is jittered")
	})
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name   string
		f      float64
		spread float64 // each wait is within base·(1±spread)
	}{
		{"half", 0.5, 0.5},
		{"above one is one", 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				distinct := map[time.Duration]bool{}
				for range 30 {
					s := newScript(repeat(&statusError{code: 503}, 9)...)
					_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithJitter(tt.f), safecall.WithRetries(2))
					require.Error(t, err)
					waits := s.waits()
					require.Len(t, waits, 2)
					for i, base := range []time.Duration{time.Second, 2 * time.Second} {
						assert.InDelta(t, float64(base), float64(waits[i]), tt.spread*float64(base)+1, "wait %d", i)
					}
					distinct[waits[0]] = true
				}
				assert.Greater(t, len(distinct), 15, "waits are drawn at random")
			})
		})
	}
}

func TestNoWaitPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		e503 := &statusError{code: 503}
		s := newScript(repeat(e503, 9)...)
		start := time.Now()
		_, err := safecall.Call(ctx, "op", s.fn, safecall.WithJitter(0))
		// Attempt 1 at 0s, wait 1s, attempt 2 at 1s; the 2s wait would end at
		// 3s, past the deadline: fail at once with the last error.
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 2, s.attempts())
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.Temporary, e.Class)
		assert.Equal(t, 2, e.Attempts)
		assert.Same(t, e503, e.Err)
		assert.NoError(t, ctx.Err(), "failed before the deadline")
	})
}

func TestRetryAfterPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s := newScript(&statusError{code: 429, ra: 20 * time.Second})
		_, err := safecall.Call(ctx, "op", s.fn)
		assert.Equal(t, 1, s.attempts())
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.RateLimit, e.Class)
		assert.Equal(t, 20*time.Second, e.RetryAfter)
	})
}

func TestCanceledDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(500*time.Millisecond, cancel)
		e503 := &statusError{code: 503}
		s := newScript(repeat(e503, 9)...)
		start := time.Now()
		_, err := safecall.Call(ctx, "op", s.fn)
		assert.Equal(t, 500*time.Millisecond, time.Since(start))
		assert.Equal(t, 1, s.attempts())
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.Canceled, e.Class)
		assert.Equal(t, 1, e.Attempts)
		assert.ErrorIs(t, err, context.Canceled)
		var se *statusError
		require.ErrorAs(t, err, &se, "the last error is still there")
		assert.Same(t, e503, se)
	})
}

func TestCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newScript()
	_, err := safecall.Call(ctx, "op", s.fn)
	assert.Equal(t, 0, s.attempts())
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Canceled, e.Class)
	assert.Equal(t, 0, e.Attempts)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCallerDeadlineIsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		attempts := 0
		_, err := safecall.Call(ctx, "op", func(ctx context.Context) (int, error) {
			attempts++
			<-ctx.Done()
			return 0, ctx.Err()
		}, safecall.WithAttemptTimeout(5*time.Second))
		assert.Equal(t, 1, attempts)
		var e *safecall.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, safecall.Canceled, e.Class, "the caller's deadline, not the attempt's")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		attempts := 0
		var actxs []context.Context
		start := time.Now()
		v, err := safecall.Call(t.Context(), "op", func(ctx context.Context) (int, error) {
			attempts++
			actxs = append(actxs, ctx)
			if attempts <= 2 {
				<-ctx.Done() // a hung request
				return 0, fmt.Errorf("get: %w", ctx.Err())
			}
			_, ok := ctx.Deadline()
			assert.True(t, ok, "each attempt has its own deadline")
			return 7, nil
		}, safecall.WithAttemptTimeout(time.Second), safecall.WithJitter(0), safecall.WithOnRetry(ev.add))
		require.NoError(t, err)
		assert.Equal(t, 7, v)
		assert.Equal(t, 3, attempts)
		assert.Equal(t, []safecall.Class{safecall.Temporary, safecall.Temporary}, ev.classes())
		// 1s attempt, 1s wait, 1s attempt, 2s wait, instant success.
		assert.Equal(t, 5*time.Second, time.Since(start))
		require.Len(t, actxs, 3)
		assert.ErrorIs(t, actxs[2].Err(), context.Canceled, "each attempt's context is released when it returns")
	})
}

func TestAttemptTimeoutWithCustomClassifier(t *testing.T) {
	// The classifier calls everything Permanent; only a failure caused by
	// the attempt's own timeout is Temporary whatever it says.
	permanent := safecall.WithClassifier(func(error) safecall.Class { return safecall.Permanent })
	tests := []struct {
		name  string
		fn    func(ctx context.Context) (int, error)
		opts  []safecall.Option
		class safecall.Class
	}{
		{
			name:  "hung until the attempt's deadline",
			fn:    func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, fmt.Errorf("get: %w", ctx.Err()) },
			opts:  []safecall.Option{safecall.WithAttemptTimeout(time.Second)},
			class: safecall.Temporary,
		},
		{
			name: "another error after the attempt's deadline",
			fn: func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, errors.New("invalid number")
			},
			opts:  []safecall.Option{safecall.WithAttemptTimeout(time.Second)},
			class: safecall.Permanent,
		},
		{
			name:  "a deadline error before the attempt's deadline",
			fn:    func(ctx context.Context) (int, error) { return 0, context.DeadlineExceeded },
			opts:  []safecall.Option{safecall.WithAttemptTimeout(time.Second)},
			class: safecall.Permanent,
		},
		{
			name:  "a deadline error without attempt timeout",
			fn:    func(ctx context.Context) (int, error) { return 0, context.DeadlineExceeded },
			class: safecall.Permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev events
				opts := append([]safecall.Option{permanent, safecall.WithRetries(1), safecall.WithOnRetry(ev.add)}, tt.opts...)
				_, err := safecall.Call(t.Context(), "op", tt.fn, opts...)
				assert.Equal(t, tt.class, safecall.ClassOf(err))
				if tt.class == safecall.Temporary {
					assert.Equal(t, []safecall.Class{safecall.Temporary}, ev.classes(), "retried")
				} else {
					assert.Empty(t, ev.classes(), "not retried")
				}
			})
		})
	}
}

func TestAttemptTimeoutBeatsClassifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A vendor classifier that knows nothing of timeouts: an attempt that
		// ran out of its own time is still Temporary, and retried.
		attempts := 0
		_, err := safecall.Call(t.Context(), "op", func(ctx context.Context) (int, error) {
			attempts++
			<-ctx.Done()
			return 0, ctx.Err()
		}, safecall.WithAttemptTimeout(time.Second), safecall.WithRetries(1),
			safecall.WithClassifier(func(error) safecall.Class { return safecall.Permanent }))
		assert.Equal(t, 2, attempts)
		assert.Equal(t, safecall.Temporary, safecall.ClassOf(err))
	})
}

func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		err := safecall.Run(t.Context(), "op", func(context.Context) error {
			calls++
			if calls == 1 {
				return &statusError{code: 503}
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, calls)

		err = safecall.Run(t.Context(), "op", func(context.Context) error { return &statusError{code: 404} })
		assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
	})
}

func TestErrorString(t *testing.T) {
	e := &safecall.Error{Op: "gcal.book", Class: safecall.RateLimit, Attempts: 4, Err: &statusError{code: 429}, RetryAfter: 3 * time.Second}
	assert.Equal(t, "safecall: gcal.book: rate-limit after 4 attempts, retry after 3s: HTTP 429", e.Error())
	e = &safecall.Error{Op: "sms.send", Class: safecall.Permanent, Attempts: 1, Err: &statusError{code: 400}}
	assert.Equal(t, "safecall: sms.send: permanent: HTTP 400", e.Error())
	var se *statusError
	require.ErrorAs(t, e, &se, "Unwrap reaches the vendor error")
	assert.Equal(t, 400, se.code)
}

func TestErrorStringIsOneLineWithRoundedDurations(t *testing.T) {
	e503 := &statusError{code: 503}
	tests := []struct {
		name string
		err  *safecall.Error
		want string
	}{
		{
			name: "breaker rejection joined with the last error",
			err: &safecall.Error{Op: "gcal.book", Class: safecall.CircuitOpen, Attempts: 3, RetryAfter: 4998502863,
				Err: errors.Join(&breaker.OpenError{Key: "org_1", RetryAfter: 4998502863}, e503)},
			want: `safecall: gcal.book: circuit-open after 3 attempts, retry after 5s: breaker: circuit open for "org_1"; HTTP 503`,
		},
		{
			name: "canceled during a wait",
			err:  &safecall.Error{Op: "op", Class: safecall.Canceled, Attempts: 2, Err: errors.Join(context.Canceled, e503)},
			want: `safecall: op: canceled after 2 attempts: context canceled; HTTP 503`,
		},
		{
			name: "a vendor message over several lines",
			err:  &safecall.Error{Op: "op", Class: safecall.Unknown, Attempts: 1, Err: errors.New("bad gateway\n<html>\r\n</html>")},
			want: `safecall: op: unknown: bad gateway <html> </html>`,
		},
		{
			name: "line breaks at the ends",
			err:  &safecall.Error{Op: "op", Class: safecall.Unknown, Attempts: 1, Err: errors.New("\nbad gateway\r\n")},
			want: `safecall: op: unknown: bad gateway`,
		},
		{"1.5s", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 1540 * time.Millisecond}, "safecall: op: rate-limit, retry after 1.5s"},
		{"12s", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 12300 * time.Millisecond}, "safecall: op: rate-limit, retry after 12s"},
		{"30s", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 29999999999}, "safecall: op: rate-limit, retry after 30s"},
		{"2m4s", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 123700 * time.Millisecond}, "safecall: op: rate-limit, retry after 2m4s"},
		{"250ms", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 250400 * time.Microsecond}, "safecall: op: rate-limit, retry after 250ms"},
		{"5µs", &safecall.Error{Op: "op", Class: safecall.RateLimit, Attempts: 1, RetryAfter: 5 * time.Microsecond}, "safecall: op: rate-limit, retry after 5µs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}

	t.Run("from a call", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New(breaker.Settings{Cooldown: 4998502863})
			_, err := safecall.Call(t.Context(), "gcal.book", newScript(repeat(e503, 9)...).fn,
				safecall.WithBreaker(b), safecall.WithBackoff(100*time.Millisecond, 0), safecall.WithJitter(0))
			assert.Equal(t, "safecall: gcal.book: circuit-open after 3 attempts, retry after 5s: breaker: circuit open; HTTP 503", err.Error())
		})
	})
}
