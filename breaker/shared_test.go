package breaker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingStore is a MemoryStore that remembers what breakers published.
type recordingStore struct {
	MemoryStore
	mu        sync.Mutex
	published []Transition
}

func (s *recordingStore) Publish(t Transition, openUntil time.Time) {
	s.mu.Lock()
	s.published = append(s.published, t)
	s.mu.Unlock()
	s.MemoryStore.Publish(t, openUntil)
}

func (s *recordingStore) transitions() []Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Transition(nil), s.published...)
}

// sharedPair returns two registries, as two instances of a service would
// hold, sharing one store, and the transitions the second one saw.
func sharedPair(clk *fakeClock, store Store) (a, b *Registry[string], seenB func() []Transition) {
	var mu sync.Mutex
	var seen []Transition
	s := Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, MaxCooldown: time.Hour, Now: clk.Now, Store: store}
	a = NewRegistry[string](s)
	s.OnStateChange = func(tr Transition) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
	}
	b = NewRegistry[string](s)
	return a, b, func() []Transition {
		mu.Lock()
		defer mu.Unlock()
		return append([]Transition(nil), seen...)
	}
}

// A close published by the instance whose probe succeeded closes the
// breakers of the other instances, open or half-open, and is not
// published again by them.
func TestSyncAdoptsASharedClose(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Minute} {
		clk := newFakeClock()
		store := &recordingStore{}
		a, b, seenB := sharedPair(clk, store)
		ctx := context.Background()
		require.True(t, call(a.Get("clinic"), errBoom))
		bb := b.Get("clinic")
		requireOpenError(t, bb, "clinic", time.Minute)

		clk.Advance(wait)
		if wait > 0 {
			require.Equal(t, HalfOpen, bb.State())
			require.True(t, call(a.Get("clinic"), nil), "a's probe succeeds")
		} else {
			a.Get("clinic").Reset()
		}
		require.Equal(t, Closed, a.Get("clinic").State())
		require.NoError(t, b.Sync(ctx, "clinic"))
		assert.Equal(t, Closed, bb.State(), "wait %v", wait)
		got := seenB()
		require.NotEmpty(t, got)
		last := got[len(got)-1]
		assert.Equal(t, Closed, last.To)
		assert.ErrorIs(t, last.Cause, ErrShared)
		for _, tr := range store.transitions() {
			assert.NotErrorIs(t, tr.Cause, ErrShared, "learned transitions are not published again: %+v", tr)
		}
		assert.Len(t, store.transitions(), 2, "a's open and close only")
		require.NoError(t, b.Sync(ctx, "clinic"))
		assert.Len(t, seenB(), len(got), "syncing a closed breaker with a closed key changes nothing")
	}
}

// An open period that has ended everywhere changes nothing: a breaker
// whose own open period is longer keeps it.
func TestSyncIgnoresAnEndedOpenPeriod(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	a, b, seenB := sharedPair(clk, store)
	require.True(t, call(a.Get("clinic"), errBoom))
	bb := b.Get("clinic")
	require.Equal(t, Open, bb.State(), "adopted on creation")
	clk.Advance(time.Minute)
	require.True(t, call(bb, errBoom), "b's probe fails: open for 2 minutes")
	// b's re-open was published; the store now says so. Put back a's ended
	// period, as a store that lost b's publication would have it.
	store.Publish(Transition{Key: "clinic", To: Open}, clk.Now())
	n := len(seenB())
	require.NoError(t, b.Sync(context.Background(), "clinic"))
	assert.Len(t, seenB(), n)
	assert.Equal(t, 2*time.Minute, bb.Snapshot().RetryAfter)
}

// A breaker created after its key opened elsewhere starts open, and says
// so to OnStateChange; one created after the period ended starts closed.
func TestNewBreakerAdoptsASharedOpenPeriod(t *testing.T) {
	clk := newFakeClock()
	store := &recordingStore{}
	a, b, seenB := sharedPair(clk, store)
	require.True(t, call(a.Get("clinic"), errBoom))
	clk.Advance(10 * time.Second)
	requireOpenError(t, b.Get("clinic"), "clinic", 50*time.Second)
	got := seenB()
	require.Len(t, got, 1)
	assert.Equal(t, Transition{Key: "clinic", From: Closed, To: Open, At: clk.Now(), Cause: ErrShared}, got[0])
	assert.Len(t, store.transitions(), 1, "not published again")
	assert.Equal(t, Closed, b.Get("other").State())

	lone := New(Settings{Now: clk.Now, Store: store})
	assert.Equal(t, Closed, lone.State(), `key "" is not open`)
	store.Publish(Transition{To: Open}, clk.Now().Add(time.Second))
	requireOpenError(t, New(Settings{Now: clk.Now, Store: store}), "", time.Second)

	clk.Advance(time.Second)
	assert.Equal(t, Closed, New(Settings{Now: clk.Now, Store: store}).State(), "the period has ended")
	require.True(t, call(a.Get("late"), errBoom))
	clk.Advance(time.Minute)
	assert.Equal(t, Closed, b.Get("late").State(), "the period has ended")
}

// Sync leaves keys the registry does not track alone, and stops when its
// context is done.
func TestRegistrySyncOfAnUntrackedKey(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	a, b, _ := sharedPair(clk, store)
	require.True(t, call(a.Get("clinic"), errBoom))
	require.NoError(t, b.Sync(context.Background(), "clinic"))
	assert.Zero(t, b.Len(), "no breaker created for a key this instance does not use")

	b.Get("clinic")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, b.Sync(ctx, "clinic"), context.Canceled)
	assert.ErrorIs(t, b.Sync(ctx, "untracked"), context.Canceled)
	assert.NoError(t, New(Settings{}).Sync(context.Background()), "no store")
}
