package breaker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sync must install the new open period before other goroutines can see it
// (a data race under -race otherwise).
func TestSyncRacesWithAllow(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	r := NewRegistry[string](Settings{ConsecutiveFailures: 1, Now: clk.Now, Store: store})
	b := r.Get("clinic")
	require.True(t, call(b, errBoom))
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = b.Allow() // lock-free: reads the open period
			}
		}
	})
	for i := range 200 {
		until := clk.Now().Add(time.Hour + time.Duration(i)*time.Second)
		store.Publish(Transition{Key: "clinic", To: Open}, until)
		require.NoError(t, r.Sync(ctx, "clinic"))
	}
	close(stop)
	wg.Wait()
	assert.Equal(t, time.Hour+199*time.Second, b.Snapshot().RetryAfter)
}

// Transitions reach OnStateChange and the Store in the order they happened,
// even when another goroutine makes the next one while the first is still
// being reported.
func TestNotificationsKeepTheirOrder(t *testing.T) {
	store := &MemoryStore{}
	release := make(chan struct{})
	entered := make(chan struct{})
	var mu sync.Mutex
	var got []State
	r := NewRegistry[string](Settings{ConsecutiveFailures: 1, Store: store, OnStateChange: func(tr Transition) {
		if tr.To == Open {
			close(entered)
			<-release
		}
		mu.Lock()
		got = append(got, tr.To)
		mu.Unlock()
	}})
	b := r.Get("clinic")
	tripped := make(chan struct{})
	go func() {
		defer close(tripped)
		call(b, errBoom)
	}()
	<-entered
	b.Reset() // closes while the trip is still being reported
	close(release)
	<-tripped

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []State{Open, Closed}, got)
	until := store.OpenUntil("clinic")
	assert.True(t, until.IsZero(), "the store must end up closed, as the breaker is (until %v)", until)
	assert.Equal(t, Closed, b.State())
}

// A panicking listener does not silence the breaker's later transitions.
func TestPanickingListenerDoesNotStopReports(t *testing.T) {
	var got []State
	b := New(Settings{ConsecutiveFailures: 1, OnStateChange: func(tr Transition) {
		got = append(got, tr.To)
		if len(got) == 1 {
			panic("listener")
		}
	}})
	assert.PanicsWithValue(t, "listener", func() { call(b, errBoom) })
	assert.Equal(t, Open, b.State())
	b.Reset()
	assert.Equal(t, []State{Open, Closed}, got)
}

func TestOpenErrorMessage(t *testing.T) {
	assert.Equal(t, "breaker: circuit open", (&OpenError{}).Error())
	assert.Equal(t, `breaker: circuit open for "clinic", retry after 1.5s`,
		(&OpenError{Key: "clinic", RetryAfter: 1500 * time.Millisecond}).Error())
}

// Opening from the Store is not a failed probe: it does not double the
// cooldown.
func TestSyncFromHalfOpenKeepsTheCooldown(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	r := NewRegistry[string](Settings{ConsecutiveFailures: 1, Cooldown: time.Second, MaxCooldown: time.Hour, Now: clk.Now, Store: store})
	b := r.Get("clinic")
	require.True(t, call(b, errBoom))
	clk.Advance(time.Second)
	require.Equal(t, HalfOpen, b.State())
	ctx := context.Background()
	store.Publish(Transition{Key: "clinic", To: Open}, clk.Now().Add(time.Minute))
	require.NoError(t, r.Sync(ctx, "clinic"))
	s := b.Snapshot()
	assert.Equal(t, Open, s.State)
	assert.Equal(t, time.Minute, s.RetryAfter)
	assert.Equal(t, time.Second, s.Cooldown)
}

// A shared open period that ends before the local one, or with it, changes
// nothing: the breaker keeps its period (and the time it opened) and
// reports no transition. Nor does one that ends now.
func TestSyncKeepsALongerLocalOpenPeriod(t *testing.T) {
	for _, shared := range []time.Duration{10 * time.Second, 50 * time.Second} {
		clk := newFakeClock()
		store := &MemoryStore{}
		var changes int
		b := NewRegistry[string](Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, Now: clk.Now, Store: store,
			OnStateChange: func(Transition) { changes++ }}).Get("clinic")
		require.True(t, call(b, errBoom))
		opened := clk.Now()
		require.Equal(t, 1, changes)
		clk.Advance(10 * time.Second)
		ctx := context.Background()
		store.Publish(Transition{Key: "clinic", To: Open}, clk.Now().Add(shared))
		require.NoError(t, b.Sync(ctx))
		s := b.Snapshot()
		assert.Equal(t, 50*time.Second, s.RetryAfter, "shared %v", shared)
		assert.Equal(t, opened, s.Since, "shared %v: the same open period", shared)
		assert.Equal(t, 1, changes, "shared %v: no transition", shared)
	}

	clk := newFakeClock()
	store := &MemoryStore{}
	var changes int
	b := NewRegistry[string](Settings{Now: clk.Now, Store: store, OnStateChange: func(Transition) { changes++ }}).Get("clinic")
	store.Publish(Transition{Key: "clinic", To: Open}, clk.Now())
	require.NoError(t, b.Sync(context.Background()))
	assert.Zero(t, changes, "a period that ends now has ended")
	assert.Equal(t, Closed, b.Snapshot().State)
}
