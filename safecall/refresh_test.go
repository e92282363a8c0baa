package safecall_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

func TestTokenRefresh(t *testing.T) {
	e401 := &statusError{code: 401}
	e503 := &statusError{code: 503}
	errRefresh := errors.New("refresh token revoked")
	tests := []struct {
		name       string
		errs       []error
		refreshErr error
		opts       []safecall.Option
		wantClass  safecall.Class // Unknown: success
		attempts   int
		refreshes  int
	}{
		{name: "refresh then success", errs: []error{e401}, attempts: 2, refreshes: 1},
		{name: "second auth failure is final", errs: repeat(e401, 9), wantClass: safecall.Auth, attempts: 2, refreshes: 1},
		{name: "refresh fails", errs: repeat(e401, 9), refreshErr: errRefresh, wantClass: safecall.Auth, attempts: 1, refreshes: 1},
		{name: "refresh retry is not a counted retry", errs: []error{e401}, opts: []safecall.Option{safecall.WithRetries(0)}, attempts: 2, refreshes: 1},
		{name: "auth after temporary", errs: []error{e503, e401}, attempts: 3, refreshes: 1},
		{name: "temporary after refresh", errs: []error{e401, e503}, attempts: 3, refreshes: 1},
		{name: "not idempotent still refreshes", errs: []error{e401}, opts: []safecall.Option{safecall.WithIdempotent(false)}, attempts: 2, refreshes: 1},
		{name: "permanent is not refreshed", errs: repeat(&statusError{code: 400}, 9), wantClass: safecall.Permanent, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScript(tt.errs...)
				refreshes := 0
				refresh := func(context.Context) error {
					refreshes++
					return tt.refreshErr
				}
				var ev events
				opts := append([]safecall.Option{safecall.WithTokenRefresh(refresh), safecall.WithOnRetry(ev.add), safecall.WithJitter(0)}, tt.opts...)
				_, err := safecall.Call(t.Context(), "gcal.book", s.fn, opts...)
				assert.Equal(t, tt.attempts, s.attempts(), "attempts")
				assert.Equal(t, tt.refreshes, refreshes, "refreshes")
				if tt.wantClass == safecall.Unknown {
					require.NoError(t, err)
					return
				}
				var e *safecall.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tt.wantClass, e.Class)
				assert.Equal(t, tt.attempts, e.Attempts)
				if tt.refreshErr != nil {
					assert.ErrorIs(t, err, tt.refreshErr)
					assert.ErrorIs(t, err, e401)
				}
			})
		})
	}
}

func TestTokenRefreshRetriesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript(&statusError{code: 403})
		var ev events
		start := time.Now()
		_, err := safecall.Call(t.Context(), "op", s.fn,
			safecall.WithTokenRefresh(func(context.Context) error { return nil }), safecall.WithOnRetry(ev.add))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, []safecall.Class{safecall.Auth}, ev.classes())
		assert.Equal(t, []time.Duration{0}, ev.waits())
	})
}

func TestTokenRefreshCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := newScript(&statusError{code: 401})
		_, err := safecall.Call(ctx, "op", s.fn, safecall.WithTokenRefresh(func(ctx context.Context) error {
			cancel()
			return ctx.Err()
		}))
		assert.Equal(t, 1, s.attempts())
		assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestRefresherMergesConcurrentRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var refreshes atomic.Int32
		var version atomic.Int32
		r := safecall.NewRefresher(func(ctx context.Context) error {
			refreshes.Add(1)
			time.Sleep(100 * time.Millisecond) // the token endpoint
			version.Add(1)
			return nil
		})
		const n = 20
		var wg sync.WaitGroup
		var attempts atomic.Int32
		for range n {
			wg.Go(func() {
				_, err := safecall.Call(t.Context(), "gcal.book", func(ctx context.Context) (int, error) {
					attempts.Add(1)
					if version.Load() == 0 {
						return 0, &statusError{code: 401}
					}
					return 1, nil
				}, safecall.WithTokenRefresh(r.Refresh))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), refreshes.Load())
		assert.Equal(t, int32(2*n), attempts.Load())
	})
}

func TestRefresherMergesUnderRace(t *testing.T) {
	// Real time and real scheduling: calls whose failed attempt started
	// before the refresh ended do not refresh again, even if they reach the
	// Refresher after it ended.
	var refreshes atomic.Int32
	var version atomic.Int32
	r := safecall.NewRefresher(func(ctx context.Context) error {
		refreshes.Add(1)
		time.Sleep(time.Millisecond)
		version.Add(1)
		return nil
	})
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := safecall.Call(context.Background(), "op", func(ctx context.Context) (int, error) {
				if version.Load() == 0 {
					return 0, &statusError{code: 401}
				}
				return 1, nil
			}, safecall.WithTokenRefresh(r.Refresh))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), refreshes.Load())
}

func TestRefresherSharesError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errRevoked := errors.New("revoked")
		var refreshes atomic.Int32
		r := safecall.NewRefresher(func(ctx context.Context) error {
			refreshes.Add(1)
			time.Sleep(time.Second)
			return errRevoked
		})
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				assert.ErrorIs(t, r.Refresh(t.Context()), errRevoked)
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), refreshes.Load())

		// The failure is not remembered: the next call refreshes again.
		assert.ErrorIs(t, r.Refresh(t.Context()), errRevoked)
		assert.Equal(t, int32(2), refreshes.Load())
	})
}

func TestRefresherLeaderCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var refreshes atomic.Int32
		r := safecall.NewRefresher(func(ctx context.Context) error {
			refreshes.Add(1)
			select {
			case <-time.After(time.Second):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		leaderCtx, cancelLeader := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			assert.ErrorIs(t, r.Refresh(leaderCtx), context.Canceled)
		})
		synctest.Wait() // the leader is refreshing
		wg.Go(func() {
			assert.NoError(t, r.Refresh(t.Context()), "the follower takes over")
		})
		synctest.Wait()
		cancelLeader()
		wg.Wait()
		assert.Equal(t, int32(2), refreshes.Load())
	})
}

func TestRefresherWaiterCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := safecall.NewRefresher(func(ctx context.Context) error {
			time.Sleep(time.Second)
			return nil
		})
		var wg sync.WaitGroup
		wg.Go(func() { assert.NoError(t, r.Refresh(t.Context())) })
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, r.Refresh(ctx), context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
		wg.Wait()
	})
}

func TestRefresherSequential(t *testing.T) {
	var refreshes int
	r := safecall.NewRefresher(func(context.Context) error { refreshes++; return nil })
	for range 3 {
		require.NoError(t, r.Refresh(context.Background()))
	}
	assert.Equal(t, 3, refreshes, "called directly, each Refresh refreshes")
}

func TestRefresherPanic(t *testing.T) {
	calls := 0
	r := safecall.NewRefresher(func(context.Context) error {
		calls++
		if calls == 1 {
			panic("oops")
		}
		return nil
	})
	assert.PanicsWithValue(t, "oops", func() { _ = r.Refresh(context.Background()) })
	assert.NoError(t, r.Refresh(context.Background()), "usable after a panic")
}

func TestRefresherZero(t *testing.T) {
	var r safecall.Refresher
	assert.NoError(t, r.Refresh(context.Background()))
}

func TestRefresherMergesLateArrivals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two calls use the old token at 0s. The fast one fails at once and
		// refreshes (100ms); the slow one fails at 200ms, after the refresh
		// ended: its attempt started before the refresh ended, so the new
		// token is ready and it must not refresh again.
		var refreshes atomic.Int32
		var version atomic.Int32
		r := safecall.NewRefresher(func(ctx context.Context) error {
			refreshes.Add(1)
			time.Sleep(100 * time.Millisecond)
			version.Add(1)
			return nil
		})
		call := func(latency time.Duration) error {
			_, err := safecall.Call(t.Context(), "gcal.book", func(ctx context.Context) (int, error) {
				old := version.Load() == 0
				time.Sleep(latency)
				if old {
					return 0, &statusError{code: 401}
				}
				return 1, nil
			}, safecall.WithTokenRefresh(r.Refresh))
			return err
		}
		var wg sync.WaitGroup
		wg.Go(func() { assert.NoError(t, call(0)) })
		wg.Go(func() { assert.NoError(t, call(200*time.Millisecond)) })
		wg.Wait()
		assert.Equal(t, int32(1), refreshes.Load())

		// A call whose attempt started after that refresh refreshes anew.
		version.Store(0)
		require.NoError(t, call(0))
		assert.Equal(t, int32(2), refreshes.Load())
	})
}

func TestRefresherSharesItsOwnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The token endpoint times out on its own (its client's timeout, not
		// the leader's context): every waiter gets that error; they must not
		// take turns running the same doomed refresh again.
		var refreshes atomic.Int32
		r := safecall.NewRefresher(func(ctx context.Context) error {
			refreshes.Add(1)
			time.Sleep(time.Second)
			return fmt.Errorf("token endpoint: %w", context.DeadlineExceeded)
		})
		var wg sync.WaitGroup
		wg.Go(func() { assert.ErrorIs(t, r.Refresh(t.Context()), context.DeadlineExceeded) })
		synctest.Wait() // the leader is refreshing
		for range 4 {
			wg.Go(func() { assert.ErrorIs(t, r.Refresh(t.Context()), context.DeadlineExceeded) })
		}
		start := time.Now()
		wg.Wait()
		assert.Equal(t, int32(1), refreshes.Load())
		assert.Equal(t, time.Second, time.Since(start))
	})
}
