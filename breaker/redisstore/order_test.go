package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
)

// Finding (noticed while mending a flaky server test): an operator's reset
// was undone by an open that another instance queued before the reset
// (Redis was out of its reach) and wrote after it. The later transition
// wins: the late open is refused, and its instance closes too.
func TestAnOpenQueuedBeforeAResetDoesNotUndoIt(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	s := breaker.Settings{Cooldown: time.Minute}
	late := newIdleInstance(t, opt, prefix, s) // cannot reach Redis yet
	trip(t, late.reg.Get("clinic-a"))          // its open waits in its queue

	b := newInstance(t, opt, prefix, s)
	b.waitReachable(t)
	trip(t, b.reg.Get("clinic-a")) // b finds the vendor down too...
	eventually(t, time.Second, func() bool { return b.store.Stats().Published == 1 }, "b's open is written")
	b.reg.Get("clinic-a").Reset() // ...and the operator resets it once it is back
	eventually(t, time.Second, func() bool { return b.store.Stats().Published == 2 }, "the reset is written")

	late.watch(t) // Redis is back for late: its queued open is written now
	late.waitReachable(t)
	eventually(t, 2*time.Second, func() bool { return late.store.Stats().Queued == 0 }, "late's queue is written")

	v, err := b.rdb.Get(t.Context(), prefix+"clinic-a").Result()
	require.NoError(t, err)
	assert.Regexp(t, `^c \d+$`, v, "Redis keeps the reset")
	assert.EqualValues(t, 1, late.store.Stats().Superseded)
	assert.EqualValues(t, 0, late.store.Stats().Published)
	time.Sleep(50 * time.Millisecond) // an announcement of the late open would reach b within this
	assert.Equal(t, breaker.Closed, b.reg.Get("clinic-a").State(), "b stays reset")
	assert.True(t, b.store.OpenUntil("clinic-a").IsZero())
	lb := late.reg.Get("clinic-a")
	eventually(t, time.Second, func() bool { return lb.State() == breaker.Closed }, "late takes on the reset")
}

// The other way round: a close queued before another instance's trip, and
// written after it, does not close the circuit the trip opened.
func TestACloseQueuedBeforeATripDoesNotUndoIt(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	s := breaker.Settings{Cooldown: time.Minute}
	late := newIdleInstance(t, opt, prefix, s)
	lb := late.reg.Get("clinic-a")
	trip(t, lb)
	lb.Reset() // late's queue now holds the close

	b := newInstance(t, opt, prefix, s)
	b.waitReachable(t)
	trip(t, b.reg.Get("clinic-a"))
	eventually(t, time.Second, func() bool { return b.store.Stats().Published == 1 }, "b's open is written")

	late.watch(t)
	late.waitReachable(t)
	eventually(t, 2*time.Second, func() bool { return late.store.Stats().Queued == 0 }, "late's queue is written")

	v, err := b.rdb.Get(t.Context(), prefix+"clinic-a").Result()
	require.NoError(t, err)
	assert.Regexp(t, `^\d+ \d+$`, v, "Redis keeps b's open")
	assert.EqualValues(t, 1, late.store.Stats().Superseded)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, breaker.Open, b.reg.Get("clinic-a").State(), "b stays open")
	eventually(t, time.Second, func() bool { return lb.State() == breaker.Open }, "late takes on b's open")
	assert.False(t, late.store.OpenUntil("clinic-a").IsZero())
}

// Stats counts a transition that is being written, not only one that
// waits: Queued is 1 while Redis holds the write back.
func TestStatsCountATransitionBeingWrittenAsQueued(t *testing.T) {
	srv := startRedis(t) // its own: CLIENT PAUSE holds every client of the server
	opt := &redis.Options{Addr: srv.addr()}
	in := newInstance(t, opt, uniquePrefix(t), breaker.Settings{Cooldown: time.Minute})
	in.waitReachable(t)
	admin := redis.NewClient(opt)
	defer admin.Close()
	require.NoError(t, admin.Do(t.Context(), "CLIENT", "PAUSE", "400", "WRITE").Err())

	trip(t, in.reg.Get("clinic-a"))
	time.Sleep(100 * time.Millisecond) // the publisher takes the entry at once, and waits on Redis
	st := in.store.Stats()
	assert.Equal(t, 1, st.Queued, "the open being written")
	assert.EqualValues(t, 0, st.Published)
	eventually(t, 2*time.Second, func() bool {
		st := in.store.Stats() // Published counts the write just before the entry stops counting as queued
		return st.Published == 1 && st.Queued == 0
	}, "written once Redis resumes")
}
