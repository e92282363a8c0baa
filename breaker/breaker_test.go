package breaker

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
)

var errBoom = errors.New("boom")

// fakeClock is a manual clock for Settings.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 16, 20, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// call makes one call through b with result err and reports whether b
// admitted it.
func call(b *Breaker, err error) bool {
	done, rerr := b.Allow()
	if rerr != nil {
		return false
	}
	done(err)
	return true
}

func requireOpenError(t *testing.T, b *Breaker, key string, retryAfter time.Duration) {
	t.Helper()
	done, err := b.Allow()
	require.Nil(t, done)
	require.ErrorIs(t, err, ErrOpen)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, key, oe.Key)
	assert.Equal(t, retryAfter, oe.RetryAfter)
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "closed", Closed.String())
	assert.Equal(t, "half-open", HalfOpen.String())
	assert.Equal(t, "open", Open.String())
	assert.Equal(t, "State(7)", State(7).String())
}

func TestTripsAfterConsecutiveFailures(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{Now: clk.Now})
	require.True(t, call(b, errBoom))
	require.True(t, call(b, errBoom))
	require.True(t, call(b, nil), "a success resets the count")
	require.True(t, call(b, errBoom))
	require.True(t, call(b, errBoom))
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, 2, b.Snapshot().ConsecutiveFailures)
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State())
	requireOpenError(t, b, "", 30*time.Second)
	clk.Advance(10 * time.Second)
	requireOpenError(t, b, "", 20*time.Second)
	s := b.Snapshot()
	assert.Equal(t, Open, s.State)
	assert.Equal(t, 20*time.Second, s.RetryAfter)
	assert.Equal(t, 30*time.Second, s.Cooldown)
	assert.Equal(t, clk.Now().Add(-10*time.Second), s.Since)
}

func TestStaleResultsAreIgnored(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{Cooldown: time.Second, Now: clk.Now})
	slow, err := b.Allow() // starts while closed, finishes much later
	require.NoError(t, err)
	for range 3 {
		require.True(t, call(b, errBoom))
	}
	require.Equal(t, Open, b.State())
	slow(nil) // a success from before the trip must not close the breaker
	assert.Equal(t, Open, b.State())

	clk.Advance(time.Second)
	require.True(t, call(b, nil))
	require.Equal(t, Closed, b.State())
	require.True(t, call(b, errBoom))
	require.True(t, call(b, errBoom))
	slow(errBoom) // nor a failure count against the new closed state
	assert.Equal(t, 2, b.Snapshot().ConsecutiveFailures)
	assert.Equal(t, Closed, b.State())
}

func TestNeutralAndExcludedErrors(t *testing.T) {
	b := New(Settings{IsFailure: func(err error) bool { return !errors.Is(err, errBoom) }})
	for range 10 {
		require.True(t, call(b, context.Canceled))
		require.True(t, call(b, fmt.Errorf("wrapped: %w", context.Canceled)))
	}
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures)

	other := errors.New("other")
	require.True(t, call(b, other))
	require.True(t, call(b, other))
	require.True(t, call(b, context.Canceled))
	assert.Equal(t, 2, b.Snapshot().ConsecutiveFailures, "canceled neither counts nor resets")
	require.True(t, call(b, errBoom))
	assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures, "an excluded error is a success")
}

func TestFailureRatio(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{FailureRatio: 0.5, Window: 10, MinCalls: 6, Now: clk.Now})
	// Intermittent failures, never three in a row: only the ratio trips.
	for i, err := range []error{errBoom, nil, errBoom, nil, errBoom, nil} {
		require.True(t, call(b, err))
		require.Equal(t, Closed, b.State(), "call %d", i)
	}
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State(), "4 of 7 calls failed")

	// The consecutive rule (default 3) still applies with a ratio set.
	b1 := New(Settings{FailureRatio: 0.5, Window: 10, MinCalls: 6, Now: clk.Now})
	for range 3 {
		require.True(t, call(b1, errBoom))
	}
	assert.Equal(t, Open, b1.State(), "3 in a row, though fewer than MinCalls")

	b2 := New(Settings{FailureRatio: 0.5, Window: 10, MinCalls: 6, ConsecutiveFailures: -1, Now: clk.Now})
	for range 5 {
		require.True(t, call(b2, errBoom))
	}
	assert.Equal(t, Closed, b2.State(), "fewer than MinCalls")
	s := b2.Snapshot()
	assert.Equal(t, 5, s.WindowCalls)
	assert.Equal(t, 5, s.WindowFailures)
	assert.False(t, b2.evictable())

	b3 := New(Settings{FailureRatio: 0.5, Window: 4, MinCalls: 4, ConsecutiveFailures: -1, Now: clk.Now})
	for _, err := range []error{errBoom, nil, nil, nil, errBoom, nil} {
		require.True(t, call(b3, err))
	}
	s = b3.Snapshot()
	assert.Equal(t, 4, s.WindowCalls)
	assert.Equal(t, 1, s.WindowFailures, "the oldest failure slid out of the window")
	require.True(t, call(b3, errBoom))
	assert.Equal(t, Open, b3.State(), "2 of the last 4")
}

func TestOnStateChangeRunsWithoutLocks(t *testing.T) {
	clk := newFakeClock()
	var got []Transition
	var b *Breaker
	b = New(Settings{
		ConsecutiveFailures: 1,
		Cooldown:            time.Second,
		Now:                 clk.Now,
		OnStateChange: func(tr Transition) {
			got = append(got, tr)
			// Calling back into the breaker must not deadlock.
			_ = b.State()
			_ = b.Snapshot()
			if done, err := b.Allow(); err == nil {
				done(context.Canceled)
			}
		},
	})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		call(b, errBoom)
		clk.Advance(time.Second)
		call(b, nil)
		b.Reset() // already closed: no transition
		call(b, errBoom)
		b.Reset()
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: OnStateChange called with a lock held")
	}
	t0 := newFakeClock().Now()
	want := []Transition{
		{From: Closed, To: Open, At: t0, Cause: errBoom},
		{From: Open, To: HalfOpen, At: t0.Add(time.Second)},
		{From: HalfOpen, To: Closed, At: t0.Add(time.Second)},
		{From: Closed, To: Open, At: t0.Add(time.Second), Cause: errBoom},
		{From: Open, To: Closed, At: t0.Add(time.Second)},
	}
	assert.Equal(t, want, got)
}

func TestDo(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: 2})
	v, err := Do(b, func() (int, error) { return 42, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	_, err = Do(b, func() (int, error) { return 0, errBoom })
	require.ErrorIs(t, err, errBoom)

	assert.PanicsWithValue(t, "kaboom", func() {
		_, _ = Do(b, func() (int, error) { panic("kaboom") })
	})
	assert.Equal(t, Open, b.State(), "the panic counted as the second failure")

	_, err = Do(b, func() (int, error) { t.Fatal("must not run"); return 0, nil })
	require.ErrorIs(t, err, ErrOpen)
}

func TestPanicIsAFailureEvenWhenExcluded(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: 1, IsFailure: func(error) bool { return false }})
	assert.Panics(t, func() {
		_, _ = Do(b, func() (struct{}, error) { panic(errBoom) })
	})
	assert.Equal(t, Open, b.State())
}

func TestResetClosesAndForgets(t *testing.T) {
	var got []Transition
	b := New(Settings{ConsecutiveFailures: 1, MaxCooldown: time.Hour, OnStateChange: func(tr Transition) { got = append(got, tr) }})
	require.True(t, call(b, errBoom))
	b.Reset()
	s := b.Snapshot()
	assert.Equal(t, Closed, s.State)
	assert.Equal(t, 30*time.Second, s.Cooldown)
	assert.Equal(t, 0, s.ConsecutiveFailures)
	require.Len(t, got, 2)
	assert.Equal(t, Closed, got[1].To)
}

func TestCooldownWithRealTimeInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{Cooldown: 30 * time.Second})
		for range 3 {
			call(b, errBoom)
		}
		time.Sleep(29 * time.Second)
		requireOpenError(t, b, "", time.Second)
		time.Sleep(time.Second)
		assert.Equal(t, HalfOpen, b.State())
		require.True(t, call(b, nil))
		assert.Equal(t, Closed, b.State())
	})
}

func TestHammer(t *testing.T) {
	clk := newFakeClock()
	var transitions atomic.Int64
	b := New(Settings{
		ConsecutiveFailures: 3, FailureRatio: 0.6, Window: 16, MinCalls: 8,
		HalfOpenProbes: 3, SuccessesToClose: 2, Cooldown: time.Millisecond, MaxCooldown: 8 * time.Millisecond,
		Now: clk.Now, OnStateChange: func(Transition) { transitions.Add(1) },
	})
	var inflightHalfOpen, maxHalfOpen atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				if i%97 == 0 {
					clk.Advance(time.Millisecond)
				}
				g := b.gen.Load()
				done, err := b.Allow()
				if err != nil {
					assert.ErrorIs(t, err, ErrOpen)
					continue
				}
				half := g.state == HalfOpen && b.gen.Load() == g
				if half {
					n := inflightHalfOpen.Add(1)
					for m := maxHalfOpen.Load(); n > m && !maxHalfOpen.CompareAndSwap(m, n); m = maxHalfOpen.Load() {
					}
				}
				var res error
				switch (i + w) % 5 {
				case 0, 1:
					res = errBoom
				case 2:
					res = context.Canceled
				}
				if half {
					inflightHalfOpen.Add(-1)
				}
				done(res)
				_ = b.Snapshot()
			}
		})
	}
	wg.Wait()
	assert.Positive(t, transitions.Load())
	assert.LessOrEqual(t, maxHalfOpen.Load(), int32(3)*2, "probes stay bounded")
	b.Reset()
	assert.Equal(t, Closed, b.State())
	assert.True(t, call(b, nil))
}

// Every field of a snapshot describes the same state, even while other
// goroutines trip and reset the breaker.
func TestSnapshotIsConsistent(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Now: clk.Now})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				call(b, errBoom)
				b.Reset()
			}
		}
	})
	for range 20000 {
		s := b.Snapshot()
		if s.State == Open {
			require.Equal(t, 30*time.Second, s.RetryAfter, "%+v", s)
		} else {
			require.Zero(t, s.RetryAfter, "%+v", s)
		}
	}
	close(stop)
	wg.Wait()
}

// Reset empties the failure-ratio window: failures from before it do not
// count towards the next trip.
func TestResetClearsTheFailureRatioWindow(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: -1, FailureRatio: 0.5, Window: 4, MinCalls: 4})
	for _, err := range []error{errBoom, errBoom, nil} {
		require.True(t, call(b, err))
	}
	require.Equal(t, 3, b.Snapshot().WindowCalls)
	b.Reset()
	s := b.Snapshot()
	assert.Zero(t, s.WindowCalls)
	assert.Zero(t, s.WindowFailures)
	for _, err := range []error{nil, errBoom, nil} {
		require.True(t, call(b, err))
	}
	assert.Equal(t, Closed, b.State(), "3 calls since the reset, fewer than MinCalls")
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State(), "2 of 4")
}
