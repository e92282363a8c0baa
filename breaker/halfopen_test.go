package breaker

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A half-open state that lasts longer than a cooldown because closing takes
// several probes is not a stuck probe: the probe in flight was admitted a
// moment ago, so no second probe may start and its success must count.
func TestSlowCloseIsNotAStuckProbe(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, SuccessesToClose: 2, Cooldown: time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)

	first, err := b.Allow()
	require.NoError(t, err)
	clk.Advance(600 * time.Millisecond)
	first(nil)
	second, err := b.Allow()
	require.NoError(t, err)
	clk.Advance(600 * time.Millisecond) // half-open for 1.2s, second probe in flight for 0.6s

	requireOpenError(t, b, "", 0) // one probe at a time
	second(nil)
	assert.Equal(t, Closed, b.State(), "two successful probes close the breaker")
}

// Each stuck probe is replaced after a cooldown of silence, not before.
func TestStuckProbeIsReplacedAfterACooldownOfSilence(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)
	_, err := b.Allow() // never reports
	require.NoError(t, err)
	clk.Advance(999 * time.Millisecond)
	requireOpenError(t, b, "", 0)
	clk.Advance(time.Millisecond)
	second, err := b.Allow()
	require.NoError(t, err, "a cooldown after the last admission the probe counts as stuck")
	clk.Advance(999 * time.Millisecond)
	requireOpenError(t, b, "", 0)
	second(nil)
	assert.Equal(t, Closed, b.State())
}

func TestHalfOpen(t *testing.T) {
	tests := []struct {
		name     string
		settings Settings
		// results of the probes, in order, after the first cooldown
		probes    []error
		wantState State
		wantCool  time.Duration // cooldown of the present open period
	}{
		{"one success closes", Settings{}, []error{nil}, Closed, 10 * time.Second},
		{"failure re-opens with cooldown doubled", Settings{MaxCooldown: time.Minute}, []error{errBoom}, Open, 20 * time.Second},
		{"doubling is capped", Settings{MaxCooldown: 15 * time.Second}, []error{errBoom}, Open, 15 * time.Second},
		{"no MaxCooldown: no doubling", Settings{}, []error{errBoom}, Open, 10 * time.Second},
		{"needs two successes", Settings{SuccessesToClose: 2}, []error{nil}, HalfOpen, 10 * time.Second},
		{"two successes close", Settings{SuccessesToClose: 2}, []error{nil, nil}, Closed, 10 * time.Second},
		{"canceled probe is neutral", Settings{}, []error{context.Canceled}, HalfOpen, 10 * time.Second},
		{"excluded error is a success", Settings{IsFailure: func(err error) bool { return err != errBoom }}, []error{errBoom}, Closed, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			tt.settings.Now = clk.Now
			tt.settings.Cooldown = 10 * time.Second
			tt.settings.ConsecutiveFailures = 1
			b := New(tt.settings)
			require.True(t, call(b, errors.New("trip")))
			require.Equal(t, Open, b.State())
			clk.Advance(10 * time.Second)
			for _, err := range tt.probes {
				require.True(t, call(b, err))
			}
			s := b.Snapshot()
			assert.Equal(t, tt.wantState, s.State)
			assert.Equal(t, tt.wantCool, s.Cooldown)
			if tt.wantState == Open {
				assert.Equal(t, tt.wantCool, s.RetryAfter)
			}
		})
	}
}

func TestCooldownDoublesOnEachReopenAndResetsOnClose(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second, MaxCooldown: 5 * time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	var got []time.Duration
	for range 4 {
		d := b.Snapshot().RetryAfter
		got = append(got, d)
		clk.Advance(d)
		require.True(t, call(b, errBoom), "the probe is admitted")
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}, got)
	clk.Advance(5 * time.Second)
	require.True(t, call(b, nil))
	require.Equal(t, Closed, b.State())
	require.True(t, call(b, errBoom))
	assert.Equal(t, time.Second, b.Snapshot().RetryAfter, "closing restores the base cooldown")
}

func TestHalfOpenAdmitsOnlyProbes(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, HalfOpenProbes: 2, Cooldown: time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)

	var admitted atomic.Int32
	var dones sync.Map
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			done, err := b.Allow()
			if err == nil {
				admitted.Add(1)
				dones.Store(i, done)
				return
			}
			var oe *OpenError
			if assert.ErrorAs(t, err, &oe) {
				assert.Zero(t, oe.RetryAfter, "half-open rejections carry no wait")
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(2), admitted.Load())
	assert.Equal(t, HalfOpen, b.State())
	n := 0
	dones.Range(func(_, v any) bool {
		n++
		v.(func(error))(nil)
		return true
	})
	require.Equal(t, 2, n)
	assert.Equal(t, Closed, b.State())
}

func TestStuckProbeDoesNotWedgeBreaker(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)
	forgotten, err := b.Allow() // a probe whose caller never reports
	require.NoError(t, err)
	requireOpenError(t, b, "", 0)
	clk.Advance(time.Second)
	done, err := b.Allow()
	require.NoError(t, err, "after a cooldown a new probe is admitted")
	done(nil)
	assert.Equal(t, Closed, b.State())
	forgotten(errBoom) // late and stale: ignored
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures)
}

// Doubling a huge cooldown saturates at MaxCooldown instead of wrapping
// around to a negative open period.
func TestCooldownDoublingDoesNotOverflow(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: 1 << 62, MaxCooldown: math.MaxInt64, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(1 << 62)
	require.True(t, call(b, errBoom), "the probe fails")
	s := b.Snapshot()
	assert.Equal(t, Open, s.State)
	assert.Positive(t, s.RetryAfter)
	assert.Equal(t, time.Duration(math.MaxInt64), s.Cooldown)
	clk.Advance(time.Hour)
	requireOpenError(t, b, "", s.RetryAfter-time.Hour)
}

// A half-open probe's done counts once, however often its caller calls it:
// twice must neither close a breaker that needs two successes nor free a
// second probe slot.
func TestProbeDoneCalledTwiceCountsOnce(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, SuccessesToClose: 2, Cooldown: time.Second, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)

	done, err := b.Allow()
	require.NoError(t, err)
	done(nil)
	done(nil)
	assert.Equal(t, HalfOpen, b.State(), "one successful probe of two")

	done, err = b.Allow()
	require.NoError(t, err)
	done(context.Canceled)
	done(context.Canceled)
	first, err := b.Allow()
	require.NoError(t, err, "the slot freed by the canceled probe")
	requireOpenError(t, b, "", 0) // and no second one
	first(nil)
	assert.Equal(t, Closed, b.State())
}

// The cap on doubling is exact: with an odd MaxCooldown, half of it rounds
// down, and a cooldown equal to that half doubles to just under the cap.
func TestCooldownDoublingStopsAtTheCap(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second, MaxCooldown: 2*time.Second + 1, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)
	require.True(t, call(b, errBoom))
	assert.Equal(t, 2*time.Second, b.Snapshot().Cooldown)
	clk.Advance(2 * time.Second)
	require.True(t, call(b, errBoom))
	assert.Equal(t, 2*time.Second+1, b.Snapshot().Cooldown)
}

// A MaxCooldown so large that twice it overflows still lets a small
// cooldown double step by step.
func TestCooldownDoublesUnderAHugeMaxCooldown(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{ConsecutiveFailures: 1, Cooldown: time.Second, MaxCooldown: 1 << 62, Now: clk.Now})
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)
	require.True(t, call(b, errBoom))
	assert.Equal(t, 2*time.Second, b.Snapshot().Cooldown)
}
