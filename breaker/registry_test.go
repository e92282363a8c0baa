package breaker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type orgID int

func (o orgID) String() string { return "org-" + strconv.Itoa(int(o)) }

func TestRegistryGet(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{ConsecutiveFailures: 1, Now: clk.Now})
	a := r.Get("clinic-a")
	assert.Same(t, a, r.Get("clinic-a"))
	b := r.Get("clinic-b")
	assert.NotSame(t, a, b)
	assert.Equal(t, 2, r.Len())

	require.True(t, call(a, errBoom))
	assert.Equal(t, Open, a.State())
	assert.Equal(t, Closed, b.State(), "tenants are isolated")
	requireOpenError(t, a, "clinic-a", 30*time.Second)

	snaps := r.Snapshot()
	require.Len(t, snaps, 2)
	assert.Equal(t, "clinic-a", snaps[0].Key)
	assert.Equal(t, Open, snaps[0].State)
	assert.Equal(t, "clinic-b", snaps[1].Key)
	assert.Equal(t, Closed, snaps[1].State)
}

func TestRegistryKeyNames(t *testing.T) {
	ints := NewRegistry[int](Settings{})
	assert.Equal(t, "42", ints.Get(42).Snapshot().Key)
	orgs := NewRegistry[orgID](Settings{})
	assert.Equal(t, "org-7", orgs.Get(7).Snapshot().Key)
	type pair struct{ org, vendor string }
	pairs := NewRegistry[pair](Settings{})
	assert.Equal(t, "{a twilio}", pairs.Get(pair{"a", "twilio"}).Snapshot().Key)
}

func TestRegistryIdleEviction(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{Now: clk.Now, Cooldown: time.Hour}, WithIdleTTL(10*time.Minute))
	idle := r.Get("idle")
	failing := r.Get("failing")
	require.True(t, call(failing, errBoom))
	open := r.Get("open")
	for range 3 {
		require.True(t, call(open, errBoom))
	}
	busy := r.Get("busy")

	for _, step := range []string{"n1", "n2", "n3"} {
		clk.Advance(5 * time.Minute)
		assert.Same(t, busy, r.Get("busy"))
		r.Get(step) // inserting a new key is what sweeps
	}
	// 15 minutes on: "idle" was unused for more than the TTL.
	assert.Equal(t, 6, r.Len())
	assert.NotSame(t, idle, r.Get("idle"), "the idle breaker was dropped and is created anew")
	assert.Same(t, failing, r.Get("failing"), "a breaker with a failure on record is kept")
	assert.Same(t, open, r.Get("open"), "an open breaker is kept")
	assert.Same(t, busy, r.Get("busy"))
	assert.Equal(t, Open, open.State())
}

func TestRegistryMaxKeys(t *testing.T) {
	r := NewRegistry[int](Settings{}, WithMaxKeys(1000))
	protected := make([]*Breaker, 10)
	for i := range protected {
		protected[i] = r.Get(-i - 1)
		for range 3 {
			require.True(t, call(protected[i], errBoom))
		}
	}
	maxLen := 0
	for i := range 100_000 {
		r.Get(i)
		maxLen = max(maxLen, r.Len())
	}
	assert.LessOrEqual(t, maxLen, 1000)
	assert.Greater(t, r.Len(), 100, "recent keys are still tracked")
	for i, b := range protected {
		assert.Same(t, b, r.Get(-i-1))
		assert.Equal(t, Open, b.State())
	}
}

func TestRegistryKeepsRecentlyUsedWhenFull(t *testing.T) {
	r := NewRegistry[int](Settings{}, WithMaxKeys(100))
	hot := r.Get(-1)
	for i := range 10_000 {
		r.Get(i)
		if i%10 == 0 {
			assert.Same(t, hot, r.Get(-1), "used more often than the registry sweeps: never evicted (i=%d)", i)
		}
	}
}

func TestRegistryNeverEvictsOpenBreakers(t *testing.T) {
	r := NewRegistry[int](Settings{ConsecutiveFailures: 1}, WithMaxKeys(100))
	for i := range 100 {
		require.True(t, call(r.Get(i), errBoom))
	}
	for i := 100; i < 1100; i++ {
		r.Get(i)
	}
	assert.LessOrEqual(t, r.Len(), 101, "only the newest unprotected key beyond the maximum")
	for i := range 100 {
		assert.Equal(t, Open, r.Get(i).State(), "key %d", i)
	}
}

func TestStoreSharesOpenCircuits(t *testing.T) {
	clk := newFakeClock()
	store := &MemoryStore{}
	var seenB []Transition
	a := NewRegistry[string](Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, Now: clk.Now, Store: store})
	b := NewRegistry[string](Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, Now: clk.Now, Store: store,
		OnStateChange: func(tr Transition) { seenB = append(seenB, tr) }})
	ctx := context.Background()

	require.NoError(t, b.Sync(ctx, "clinic"))
	assert.Equal(t, Closed, b.Get("clinic").State(), "nothing published yet")

	require.True(t, call(a.Get("clinic"), errBoom))
	clk.Advance(10 * time.Second)
	require.NoError(t, b.Sync(ctx, "clinic"))
	requireOpenError(t, b.Get("clinic"), "clinic", 50*time.Second)
	require.Len(t, seenB, 1)
	assert.ErrorIs(t, seenB[0].Cause, ErrShared)
	assert.Equal(t, Open, seenB[0].To)

	require.NoError(t, b.Sync(ctx, "clinic"))
	assert.Len(t, seenB, 1, "syncing again changes nothing")
	require.NoError(t, b.Sync(ctx, "other"))
	assert.Equal(t, Closed, b.Get("other").State())

	clk.Advance(50 * time.Second)
	require.True(t, call(a.Get("clinic"), nil))
	until := store.OpenUntil("clinic")
	assert.True(t, until.IsZero(), "closing is published")

	n := New(Settings{})
	assert.NoError(t, n.Sync(ctx), "no store: nothing to do")
}

// The idle TTL holds when new keys arrive rarely: a breaker unused since
// before the previous insert, at least a TTL ago, is dropped by the next.
func TestRegistryIdleEvictionWithSparseInserts(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{Now: clk.Now}, WithIdleTTL(10*time.Minute))
	idle := r.Get("idle")
	busy := r.Get("busy")
	clk.Advance(time.Hour)
	r.Get("a")
	assert.Equal(t, 3, r.Len(), "used in the current epoch: maybe a moment ago")
	clk.Advance(time.Hour)
	assert.Same(t, busy, r.Get("busy"))
	r.Get("b")
	assert.Equal(t, 3, r.Len())
	assert.Same(t, busy, r.Get("busy"))
	assert.NotSame(t, idle, r.Get("idle"), "unused for two hours")
}

// A breaker that trips while a sweep is choosing what to evict is kept.
func TestRegistrySweepRechecksBeforeEvicting(t *testing.T) {
	r := NewRegistry[int](Settings{ConsecutiveFailures: 1}, WithMaxKeys(8))
	bs := make([]*Breaker, 8)
	for i := range bs {
		r.Get(i)
	}
	for i := range bs {
		bs[i] = r.Get(i) // used in the current epoch
	}
	r.mu.Lock()
	victims := r.scan(0)
	require.NotEmpty(t, victims[0])
	for _, b := range bs {
		require.True(t, call(b, errBoom)) // every candidate trips meanwhile
	}
	r.shrink(victims)
	r.mu.Unlock()
	assert.Equal(t, 8, r.Len())
	for i, b := range bs {
		assert.Same(t, b, r.Get(i), "key %d", i)
	}
}

// A registry full of open breakers does not scan every breaker on every
// insert: the keys inserted meanwhile are dropped first, and the bound holds.
func TestRegistryFullOfOpenBreakersScansRarely(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[int](Settings{ConsecutiveFailures: 1, Now: clk.Now}, WithMaxKeys(800))
	open := make([]*Breaker, 800)
	for i := range open {
		open[i] = r.Get(-i - 1)
		require.True(t, call(open[i], errBoom))
	}
	clk.Advance(time.Hour)
	// A full scan stamps lastSweep with the time: with the clock moving
	// on by a nanosecond per insert, each scan leaves a new stamp.
	scans := 0
	insert := func(k int) {
		clk.Advance(time.Nanosecond)
		last := r.lastSweep
		r.Get(k)
		if r.lastSweep != last {
			scans++
		}
		require.LessOrEqual(t, r.Len(), 801)
	}
	for i := range 8000 {
		insert(i)
	}
	assert.Equal(t, 80, scans, "one full scan, then maxKeys/8 inserts without")
	// Half an idle TTL after the last scan, the next insert scans again.
	last := r.lastSweep
	_, now := r.cfg.clock()
	clk.Advance(time.Duration(last + int64(5*time.Minute) - 2 - now))
	insert(-10_000)
	assert.Equal(t, 80, scans, "a nanosecond short of half the TTL: no scan")
	insert(-10_001)
	assert.Equal(t, 81, scans, "half the TTL: a scan")
	assert.Equal(t, last+int64(5*time.Minute), r.lastSweep)
	for i, b := range open {
		require.Same(t, b, r.Get(-i-1))
	}
	// Once the breakers close, the next scan makes room again.
	for _, b := range open[:400] {
		b.Reset()
	}
	for i := range 200 {
		r.Get(10_000 + i)
	}
	assert.LessOrEqual(t, r.Len(), 800)
	assert.Same(t, r.Get(10_199), r.Get(10_199))
}

func TestRegistryPublishesNewKeysToTheReadMap(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{Now: clk.Now})
	inRead := func(k string) bool { _, ok := (*r.idx.read.Load())[k]; return ok }
	for i := range 1000 {
		r.Get("k" + strconv.Itoa(i))
	}
	assert.Greater(t, len(*r.idx.read.Load()), 750, "misses publish the dirty map")

	clk.Advance(time.Second)
	r.Get("k0") // a miss or a hit: read is current once the new keys are in
	r.Get("new")
	b := r.Get("late")
	assert.False(t, inRead("late"), "a new key waits in the dirty map...")
	assert.Same(t, b, r.Get("late"), "...where lookups find it")
	clk.Advance(time.Second)
	assert.Same(t, b, r.Get("late"))
	assert.True(t, inRead("late"), "a second later a miss publishes it")
	assert.Equal(t, 1002, r.Len())
}

func TestRegistryDroppedBreakerIsNotReturned(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry[string](Settings{Now: clk.Now}, WithIdleTTL(100*time.Millisecond))
	old := r.Get("idle")
	for i := range 100 {
		require.True(t, call(r.Get("failing"+strconv.Itoa(i)), errBoom)) // kept: a failure on record
	}
	clk.Advance(time.Second)
	r.Get("trigger") // a miss a second on publishes everything to the read map
	require.Nil(t, r.idx.dirty)
	for i := range 3 {
		clk.Advance(100 * time.Millisecond)
		r.Get("new" + strconv.Itoa(i)) // inserts sweep
	}
	_, inRead := (*r.idx.read.Load())["idle"]
	require.True(t, inRead, "still in the read map, not yet republished...")
	_, inDirty := r.idx.dirty["idle"]
	require.False(t, inDirty, "...but dropped from the registry")
	fresh := r.Get("idle")
	assert.NotSame(t, old, fresh, "so Get makes a new one")
	assert.Same(t, fresh, r.Get("idle"))
}

// A miss publishes the dirty map once lookups have missed it a quarter as
// many times as it has keys (4*misses >= keys), counting from the last
// publication.
func TestRegistryPublishesAfterAQuarterOfMisses(t *testing.T) {
	r := NewRegistry[int](Settings{Now: newFakeClock().Now})
	want := []int{1, 2, 3, 4, 4, 6, 6, 8, 8, 8, 11}
	for i, n := range want {
		r.Get(i)
		require.Len(t, *r.idx.read.Load(), n, "after key %d", i)
	}
}
