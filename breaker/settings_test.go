package breaker

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Counts of 2^31 or more must not wrap around in int32: 1<<31 would turn
// negative (disabling the rule) and 1<<32+1 would become 1.
func TestSettingsHugeCountsDoNotWrap(t *testing.T) {
	t.Run("ConsecutiveFailures 1<<32+1 is not 1", func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1<<32 + 1})
		require.True(t, call(b, errBoom))
		assert.Equal(t, Closed, b.State())
	})
	t.Run("ConsecutiveFailures 1<<31 still trips", func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1 << 31})
		b.gen.Load().failures.Store(math.MaxInt32 - 2)
		require.True(t, call(b, errBoom))
		assert.Equal(t, Closed, b.State(), "one failure short")
		require.True(t, call(b, errBoom))
		assert.Equal(t, Open, b.State(), "capped at math.MaxInt32 failures")
	})
	t.Run("the failure count saturates", func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: -1})
		b.gen.Load().failures.Store(math.MaxInt32)
		require.True(t, call(b, errBoom))
		assert.Equal(t, math.MaxInt32, b.Snapshot().ConsecutiveFailures)
	})
	t.Run("HalfOpenProbes 1<<32+1 is not 1", func(t *testing.T) {
		clk := newFakeClock()
		b := New(Settings{ConsecutiveFailures: 1, HalfOpenProbes: 1<<32 + 1, Now: clk.Now})
		require.True(t, call(b, errBoom))
		clk.Advance(time.Minute)
		for i := range 100 {
			_, err := b.Allow()
			require.NoError(t, err, "probe %d", i)
		}
	})
	t.Run("SuccessesToClose 1<<32+1 is not 1", func(t *testing.T) {
		clk := newFakeClock()
		b := New(Settings{ConsecutiveFailures: 1, SuccessesToClose: 1<<32 + 1, Now: clk.Now})
		require.True(t, call(b, errBoom))
		clk.Advance(time.Minute)
		require.True(t, call(b, nil))
		assert.Equal(t, HalfOpen, b.State())
	})
	t.Run("a huge Window is capped", func(t *testing.T) {
		b := New(Settings{FailureRatio: 0.5, Window: 1 << 50, MinCalls: 1 << 50})
		assert.Len(t, b.win.ring, maxWindow)
		assert.Equal(t, maxWindow, b.cfg.minCalls)
	})
}

// With FailureRatio set and Window and MinCalls zero, the window holds the
// last 20 calls and the ratio applies from the 10th.
func TestFailureRatioDefaults(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: -1, FailureRatio: 1})
	for i := range 9 {
		require.True(t, call(b, errBoom))
		require.Equal(t, Closed, b.State(), "call %d: fewer than 10 calls", i)
	}
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State(), "10 of 10")

	b = New(Settings{ConsecutiveFailures: -1, FailureRatio: 0.5})
	for range 25 {
		require.True(t, call(b, nil))
	}
	for i := range 9 {
		require.True(t, call(b, errBoom))
		require.Equal(t, Closed, b.State(), "%d of the last 20", i+1)
	}
	s := b.Snapshot()
	assert.Equal(t, 20, s.WindowCalls)
	assert.Equal(t, 9, s.WindowFailures)
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State(), "10 of the last 20")

	b = New(Settings{ConsecutiveFailures: -1, FailureRatio: 0.5, Window: 4})
	for _, err := range []error{errBoom, errBoom, nil} {
		require.True(t, call(b, err))
	}
	assert.Equal(t, Closed, b.State(), "MinCalls defaults to 10, capped at Window")
	require.True(t, call(b, errBoom))
	assert.Equal(t, Open, b.State(), "3 of 4, with 4 calls")
}
