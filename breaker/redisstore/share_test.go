package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
)

// Three instances with their own clients, stores and watchers: one trips,
// the others reject within a second, and so does a fourth started
// afterwards; another key stays closed everywhere. When the open period
// ends, the probe of one instance succeeds and its close closes the others.
func TestInstancesShareAnOpenCircuit(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	const cooldown = 3 * time.Second
	s := breaker.Settings{Cooldown: cooldown}
	a := newInstance(t, opt, prefix, s)
	b := newInstance(t, opt, prefix, s)
	c := newInstance(t, opt, prefix, s)
	for _, in := range []*instance{a, b, c} {
		in.waitReachable(t)
	}
	bb, cb := b.reg.Get("clinic-a"), c.reg.Get("clinic-a") // in use before the trip

	trip(t, a.reg.Get("clinic-a"))
	opened := time.Now()
	for name, br := range map[string]*breaker.Breaker{"b": bb, "c": cb} {
		d := eventually(t, time.Second, func() bool { return br.State() == breaker.Open }, name+" opens")
		t.Logf("%s rejects %v after the trip", name, d)
		assert.True(t, rejects(br), name)
	}
	ctx := context.Background()
	pttl, err := a.rdb.PTTL(ctx, prefix+"clinic-a").Result()
	require.NoError(t, err)
	assert.Greater(t, pttl, cooldown-time.Second, "the key expires when the period ends")
	assert.LessOrEqual(t, pttl, cooldown)

	d := newInstance(t, opt, prefix, s)
	started := time.Now()
	eventually(t, time.Second, func() bool { return rejects(d.reg.Get("clinic-a")) }, "a fourth instance rejects")
	t.Logf("the fourth instance rejects %v after it started", time.Since(started))
	require.Less(t, time.Since(opened), cooldown, "the test ran too slowly to check the close")

	for _, in := range []*instance{a, b, c, d} {
		assert.False(t, rejects(in.reg.Get("clinic-b")), "another key stays closed")
		assert.Equal(t, breaker.Closed, in.reg.Get("clinic-b").State())
		assert.Equal(t, 1, in.store.Stats().Open)
	}

	// The period ends everywhere: a's probe succeeds and closes them all.
	eventually(t, cooldown, func() bool { return a.reg.Get("clinic-a").State() == breaker.HalfOpen }, "the period ends")
	for name, in := range map[string]*instance{"b": b, "c": c, "d": d} {
		assert.Equal(t, breaker.HalfOpen, in.reg.Get("clinic-a").State(), "%s admits probes once the period ends", name)
	}
	require.False(t, rejects(a.reg.Get("clinic-a")), "a's probe is admitted and succeeds")
	require.Equal(t, breaker.Closed, a.reg.Get("clinic-a").State())
	for name, in := range map[string]*instance{"b": b, "c": c, "d": d} {
		br := in.reg.Get("clinic-a")
		eventually(t, time.Second, func() bool { return br.State() == breaker.Closed }, name+" closes")
	}
	v, err := a.rdb.Get(ctx, prefix+"clinic-a").Result()
	require.NoError(t, err)
	assert.Regexp(t, `^c \d{13}$`, v, "a close leaves its time, not an open period")
	ttl, err := a.rdb.PTTL(ctx, prefix+"clinic-a").Result()
	require.NoError(t, err)
	assert.True(t, ttl > 59*time.Minute && ttl <= time.Hour, "and is forgotten within the hour: %v", ttl)
}

// A failed probe re-opens the circuit everywhere for the doubled cooldown,
// without doubling it again elsewhere.
func TestInstancesShareAReopen(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	s := breaker.Settings{ConsecutiveFailures: 1, Cooldown: 500 * time.Millisecond, MaxCooldown: time.Minute}
	a := newInstance(t, opt, prefix, s)
	b := newInstance(t, opt, prefix, s)
	a.waitReachable(t)
	b.waitReachable(t)
	ab, bb := a.reg.Get("clinic"), b.reg.Get("clinic")
	trip(t, ab)
	eventually(t, time.Second, func() bool { return bb.State() == breaker.Open }, "b opens")
	eventually(t, 2*time.Second, func() bool { return ab.State() == breaker.HalfOpen }, "the period ends")
	trip(t, ab) // the probe fails
	require.Equal(t, time.Second, ab.Snapshot().Cooldown)
	eventually(t, time.Second, func() bool { return bb.Snapshot().RetryAfter > 600*time.Millisecond }, "b re-opens for a's period")
	assert.Equal(t, 500*time.Millisecond, bb.Snapshot().Cooldown, "b's own cooldown is not doubled")
}

// Keys under different prefixes are separate circuits.
func TestPrefixesKeepServicesApart(t *testing.T) {
	opt := sharedRedis(t)
	p1, p2 := uniquePrefix(t), uniquePrefix(t)
	s := breaker.Settings{ConsecutiveFailures: 1}
	a := newInstance(t, opt, p1, s)
	b := newInstance(t, opt, p2, s)
	a2 := newInstance(t, opt, p1, s)
	for _, in := range []*instance{a, b, a2} {
		in.waitReachable(t)
	}
	bb, a2b := b.reg.Get("clinic"), a2.reg.Get("clinic")
	trip(t, a.reg.Get("clinic"))
	eventually(t, time.Second, func() bool { return a2b.State() == breaker.Open }, "same prefix: shared")
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, breaker.Closed, bb.State(), "other prefix: not shared")
	assert.Zero(t, b.store.Stats().Open)
}

// The store reports its health without a network call.
func TestCheckReportsWhetherStateIsShared(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	a := newInstance(t, opt, prefix, breaker.Settings{ConsecutiveFailures: 1})
	a.waitReachable(t)
	check := a.store.Check("Circuit breaker store")
	assert.Equal(t, "Circuit breaker store", check.Name)
	trip(t, a.reg.Get("clinic"))
	eventually(t, time.Second, func() bool { return a.store.Stats().Open == 1 }, "the mirror hears the trip")
	r := check.Func(context.Background())
	assert.Equal(t, health.Healthy, r.Status)
	assert.Equal(t, "sharing circuit state through Redis (1 open)", r.Message)
	assert.Equal(t, 1, r.Details["open"])
	assert.EqualValues(t, 1, r.Details["published"])
	for i := range 3 {
		trip(t, a.reg.Get("clinic-"+strconv.Itoa(i)))
	}
	eventually(t, time.Second, func() bool { return a.store.Stats().Published == 4 }, "published")
}
