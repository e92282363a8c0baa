package breaker

import (
	"context"
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
		for range 3 {
			clk.Advance(time.Second)
			r.Get(-2)
		}
		assert.Equal(t, 1002, r.Len(), "idle for seconds: nothing dropped")
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

// An insert exactly an idle TTL after the epoch began skips an epoch, so
// that a breaker unused since two such inserts ago counts as idle.
func TestRegistryIdleTTLBoundary(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{Now: clk.Now}, WithIdleTTL(10*time.Minute))
	idle := r.Get("idle")
	clk.Advance(10 * time.Minute)
	r.Get("a")
	assert.Same(t, idle, r.Get("idle"), "after one epoch boundary it may have been used a moment ago")
	clk.Advance(10 * time.Minute)
	r.Get("b")
	clk.Advance(10 * time.Minute)
	r.Get("c")
	assert.NotSame(t, idle, r.Get("idle"), "unused for 20 minutes: dropped")
}

// The insert after the maxKeys/8th of an epoch starts a new one.
func TestRegistryEpochEndsAfterAnEighthOfMaxKeys(t *testing.T) {
	r := NewRegistry[int](Settings{Now: newFakeClock().Now}, WithMaxKeys(80))
	start := r.epoch.Load()
	for i := range 10 {
		r.Get(i)
	}
	assert.Equal(t, start, r.epoch.Load(), "10 inserts")
	r.Get(10)
	assert.Equal(t, start+1, r.epoch.Load(), "11 inserts")
}

// A registry below its maximum sweeps at most once per half idle TTL,
// whatever the time of the last sweep: a breaker that only inserts made
// look idle is kept until then.
func TestRegistrySweepsOncePerHalfIdleTTL(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[int](Settings{Now: clk.Now}, WithMaxKeys(800), WithIdleTTL(10*time.Minute))
	clk.Advance(time.Hour)
	idle := r.Get(-1) // sweeps: the first insert in an hour
	require.Equal(t, int64(time.Hour), r.lastSweep)
	for i := range 400 { // four epochs by inserts
		clk.Advance(time.Millisecond)
		r.Get(i)
	}
	assert.Equal(t, int64(time.Hour), r.lastSweep, "no sweep within 5 minutes")
	assert.Same(t, idle, r.Get(-1), "not dropped: no sweep yet")
}

// A full scan of a full registry drops the least recently used evictable
// breakers until it is exactly 3/4 full.
func TestRegistryShrinksToThreeQuarters(t *testing.T) {
	r := NewRegistry[int](Settings{Now: newFakeClock().Now}, WithMaxKeys(100))
	for i := range 100 {
		r.Get(i)
	}
	for i := range 100 {
		r.Get(i) // all used lately: none is idle
	}
	require.Equal(t, 100, r.Len())
	r.Get(100)
	assert.Equal(t, 76, r.Len(), "75 kept, and the new key")
}

// Sync reaches the breaker the registry holds now, not a dropped one that
// the read map still shows.
func TestRegistrySyncSkipsADroppedBreaker(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	r := NewRegistry[string](Settings{Now: clk.Now, Store: store}, WithIdleTTL(100*time.Millisecond))
	old := r.Get("clinic")
	for i := range 100 {
		require.True(t, call(r.Get("failing"+strconv.Itoa(i)), errBoom))
	}
	clk.Advance(time.Second)
	r.Get("trigger") // publishes everything to the read map
	for i := range 3 {
		clk.Advance(100 * time.Millisecond)
		r.Get("new" + strconv.Itoa(i)) // sweeps drop "clinic"
	}
	fresh := r.Get("clinic")
	require.NotSame(t, old, fresh)
	require.Same(t, old, (*r.idx.read.Load())["clinic"], "the read map still shows the dropped one")
	store.Publish(Transition{Key: "clinic", To: Open}, clk.Now().Add(time.Minute))
	require.NoError(t, r.Sync(context.Background(), "clinic"))
	assert.Equal(t, Open, fresh.State())
}
