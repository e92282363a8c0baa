package breaker

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A breaker whose failure-ratio window holds a failure is kept even after
// a success reset its consecutive count; one whose window holds only
// successes is dropped when idle.
func TestRegistryKeepsBreakersWithFailuresInTheWindow(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{FailureRatio: 0.5, Now: clk.Now}, WithIdleTTL(time.Minute))
	failed := r.Get("failed")
	require.True(t, call(failed, errBoom))
	require.True(t, call(failed, nil))
	require.Zero(t, failed.Snapshot().ConsecutiveFailures)
	fine := r.Get("fine")
	require.True(t, call(fine, nil))

	for i := range 4 {
		clk.Advance(30 * time.Second)
		r.Get("new" + strconv.Itoa(i))
	}
	assert.Same(t, failed, r.Get("failed"), "a failure in the window is on record")
	assert.NotSame(t, fine, r.Get("fine"), "idle with only successes: dropped")
}

// Zero or negative options mean the defaults: 100,000 keys, 10 minutes.
func TestRegistryZeroOptionsMeanDefaults(t *testing.T) {
	for _, opts := range [][]RegistryOption{
		nil,
		{WithMaxKeys(0), WithIdleTTL(0)},
		{WithMaxKeys(-1), WithIdleTTL(-time.Second)},
	} {
		clk := newFakeClock()
		r := NewRegistry[int](Settings{Now: clk.Now}, opts...)
		idle := r.Get(-1)
		for i := range 1000 {
			r.Get(i)
		}
		assert.Equal(t, 1001, r.Len(), "far below 100,000 keys: nothing dropped")
		clk.Advance(9 * time.Minute)
		r.Get(1000)
		clk.Advance(time.Minute)
		assert.Same(t, idle, r.Get(-1), "idle for 10 minutes: not yet dropped")
		clk.Advance(10 * time.Minute)
		r.Get(1001)
		clk.Advance(10 * time.Minute)
		r.Get(1002)
		assert.Equal(t, 2, r.Len(), "idle for longer than 10 minutes: dropped (kept: 1001, 1002)")
	}
}

// Goroutines getting the same new keys at once all get one breaker per key.
func TestRegistryConcurrentGetOfNewKeys(t *testing.T) {
	r := NewRegistry[int](Settings{})
	const workers, keys = 8, 2000
	got := make([][]*Breaker, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		got[w] = make([]*Breaker, keys)
		wg.Go(func() {
			<-start
			for k := range keys {
				got[w][k] = r.Get(k)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, keys, r.Len())
	for k := range keys {
		for w := 1; w < workers; w++ {
			require.Same(t, got[0][k], got[w][k], "key %d", k)
		}
		require.Same(t, got[0][k], r.Get(k))
	}
}
