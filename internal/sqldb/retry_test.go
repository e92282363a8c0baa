package sqldb

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	busy, fatal := errors.New("busy"), errors.New("fatal")
	isBusy := func(err error) bool { return errors.Is(err, busy) }
	for name, tt := range map[string]struct {
		results  []error
		want     error
		calls    int
		duration time.Duration
	}{
		"success":            {[]error{nil}, nil, 1, 0},
		"busy then success":  {[]error{busy, busy, nil}, nil, 3, 15 * time.Millisecond},
		"not retryable":      {[]error{fatal, nil}, fatal, 1, 0},
		"busy then fatal":    {[]error{busy, fatal, nil}, fatal, 2, 5 * time.Millisecond},
		"busy every attempt": {[]error{busy, busy, busy, busy, nil}, busy, 3, 15 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				b := backoff{attempts: 3, wait: 5 * time.Millisecond, retryable: isBusy, ctxErr: true}
				err := b.do(t.Context(), func() error {
					calls++
					return tt.results[calls-1]
				})
				assert.Equal(t, tt.want, err)
				assert.Equal(t, tt.calls, calls)
				assert.Equal(t, tt.duration, time.Since(start), "waits of 5ms, 10ms")
			})
		})
	}
	t.Run("context ends during a wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 7*time.Millisecond)
			defer cancel()
			calls := 0
			b := backoff{attempts: 5, wait: 5 * time.Millisecond, retryable: isBusy, ctxErr: true}
			err := b.do(ctx, func() error { calls++; return busy })
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 2, calls)

			b.ctxErr = false
			calls = 0
			err = b.do(ctx, func() error { calls++; return busy })
			assert.Equal(t, busy, err, "the last error")
			assert.Equal(t, 1, calls)
		})
	})
}

func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		err := SQLite.Retry(t.Context(), func() error {
			calls++
			if calls < 3 {
				return liteErr(5)
			}
			return nil
		})
		assert.NoError(t, err)
		assert.Equal(t, 3, calls)
		assert.Equal(t, 6*time.Millisecond, time.Since(start), "waits of 2ms, 4ms")

		calls = 0
		start = time.Now()
		err = SQLite.Retry(t.Context(), func() error { calls++; return liteErr(5) })
		assert.Equal(t, liteErr(5), err)
		assert.Equal(t, busyAttempts, calls)
		assert.Equal(t, 30*time.Millisecond, time.Since(start), "waits of 2+4+8+16ms")

		calls = 0
		err = Postgres.Retry(t.Context(), func() error { calls++; return sqlStateErr("23505") })
		assert.Equal(t, sqlStateErr("23505"), err)
		assert.Equal(t, 1, calls, "a unique violation is not Busy")

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls = 0
		err = SQLite.Retry(ctx, func() error { calls++; return liteErr(5) })
		assert.Equal(t, liteErr(5), err)
		assert.Equal(t, 1, calls, "no retry once the context is done")
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, Sleep(t.Context(), 3*time.Millisecond))
		assert.Equal(t, 3*time.Millisecond, time.Since(start))

		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		start = time.Now()
		require.ErrorIs(t, Sleep(ctx, time.Hour), context.DeadlineExceeded)
		assert.Equal(t, time.Millisecond, time.Since(start))
	})
}
