package redisstore_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
	"github.com/voxanne/resilience/health"
)

// caller makes calls through one closed breaker until stopped and records
// how many it made, how many were rejected and the slowest.
type caller struct {
	calls, rejected atomic.Int64
	slowest         atomic.Int64 // ns
	stop            chan struct{}
	wg              sync.WaitGroup
}

func startCaller(b *breaker.Breaker) *caller {
	c := &caller{stop: make(chan struct{})}
	c.wg.Go(func() {
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			start := time.Now()
			done, err := b.Allow()
			if err != nil {
				c.rejected.Add(1)
			} else {
				done(nil)
			}
			if d := int64(time.Since(start)); d > c.slowest.Load() {
				c.slowest.Store(d)
			}
			c.calls.Add(1)
			time.Sleep(100 * time.Microsecond)
		}
	})
	return c
}

func (c *caller) halt() { close(c.stop); c.wg.Wait() }

// Redis slow, then killed, then back: calls flow on local state the whole
// time, the outage is logged once and shows in health, and sharing resumes
// after the restart without restarting the instances.
func TestRedisOutageKeepsCallsFlowingAndSharingResumes(t *testing.T) {
	srv := startRedis(t)
	opt := &redis.Options{Addr: srv.addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}
	prefix := uniquePrefix(t)
	s := breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute}
	logs := &logRecorder{}
	a := newInstance(t, opt, prefix, s, redisstore.WithLogger(slog.New(logs)))
	b := newInstance(t, opt, prefix, s)
	a.waitReachable(t)
	b.waitReachable(t)
	steady := startCaller(b.reg.Get("steady"))
	defer steady.halt()

	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		b.reg.Get(k)
	}
	trip(t, a.reg.Get("k1"))
	eventually(t, time.Second, func() bool { return b.reg.Get("k1").State() == breaker.Open }, "shared before the outage")

	// Slow: the server sleeps for a second. A trip costs no more than usual.
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer admin.Close()
	slept := make(chan error, 1)
	go func() { slept <- admin.Do(ctx, "DEBUG", "SLEEP", "1").Err() }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	trip(t, a.reg.Get("k2"))
	assert.Less(t, time.Since(start), 100*time.Millisecond, "tripping does not wait for Redis")
	require.NoError(t, <-slept)
	eventually(t, 3*time.Second, func() bool { return b.reg.Get("k2").State() == breaker.Open }, "shared once Redis answers")

	// Down.
	srv.kill()
	check := a.store.Check("breakers")
	eventually(t, 5*time.Second, func() bool { return check.Func(ctx).Status == health.Degraded }, "health shows the outage")
	r := check.Func(ctx)
	assert.Contains(t, r.Message, "circuit breakers run instance-local")
	assert.Contains(t, r.Details, "downSince")
	start = time.Now()
	trip(t, a.reg.Get("k3"))
	assert.Less(t, time.Since(start), 100*time.Millisecond, "tripping does not wait for Redis")
	assert.True(t, rejects(a.reg.Get("k3")), "the local breaker works")
	assert.True(t, rejects(b.reg.Get("k1")), "local state is kept")
	time.Sleep(500 * time.Millisecond) // several failed reconnections
	// k3 waits to be published (and maybe k2, whose write timed out during
	// the sleep: it is written again, which changes nothing).
	assert.GreaterOrEqual(t, a.store.Stats().Queued, 1)
	assert.Greater(t, a.store.Stats().Errors, int64(1))

	// Back.
	srv.start()
	a.waitReachable(t)
	b.waitReachable(t)
	eventually(t, 5*time.Second, func() bool { return b.reg.Get("k3").State() == breaker.Open }, "the trip made during the outage is shared")
	trip(t, a.reg.Get("k4"))
	eventually(t, time.Second, func() bool { return b.reg.Get("k4").State() == breaker.Open }, "new trips are shared again")
	assert.True(t, rejects(b.reg.Get("k1")), "Redis restarted empty: b keeps what it knew")
	assert.Equal(t, health.Healthy, check.Func(ctx).Status)

	steady.halt()
	steady.stop = make(chan struct{}) // for the deferred halt
	t.Logf("%d calls, slowest %v", steady.calls.Load(), time.Duration(steady.slowest.Load()))
	assert.Zero(t, steady.rejected.Load(), "the steady tenant was never rejected")
	assert.Greater(t, steady.calls.Load(), int64(100))
	assert.Less(t, time.Duration(steady.slowest.Load()), 100*time.Millisecond, "no call waited for Redis")

	var warns, infos int
	for _, m := range logs.messages() {
		switch {
		case strings.HasPrefix(m, "WARN redisstore: cannot reach Redis"):
			warns++
		case strings.HasPrefix(m, "INFO redisstore: Redis reachable again"):
			infos++
		}
	}
	assert.Equal(t, 1, warns, "one warning per outage: %q", logs.messages())
	assert.Equal(t, 1, infos, "%q", logs.messages())
}

// A Redis that accepts connections and never answers: calls never wait,
// transitions of one key replace each other in the queue, and the store
// reports itself degraded.
func TestUnresponsiveRedisNeverBlocksCalls(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c) // read nothing, answer nothing
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		conns.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			_ = c.Close()
		}
	})
	opt := &redis.Options{Addr: l.Addr().String(), ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	logs := &logRecorder{}
	in := newInstance(t, opt, "p:", breaker.Settings{ConsecutiveFailures: 1}, redisstore.WithLogger(slog.New(logs)))
	br := in.reg.Get("clinic")
	start := time.Now()
	for range 1000 {
		trip(t, br)
		br.Reset()
	}
	elapsed := time.Since(start)
	assert.Less(t, elapsed, time.Second, "1000 trips and resets")
	check := in.store.Check("breakers")
	eventually(t, 5*time.Second, func() bool { return check.Func(context.Background()).Status == health.Degraded }, "degraded")
	st := in.store.Stats()
	assert.Equal(t, 1, st.Queued, "2000 transitions of one key: the latest waits")
	assert.Zero(t, st.Published)
	assert.False(t, st.Reachable)
	eventually(t, 5*time.Second, func() bool { return in.store.Stats().Errors >= 2 }, "errors counted")
	assert.Len(t, logs.messages(), 1, "logged once: %q", logs.messages())
}

// Without Watch running nothing is written: Publish queues up to the
// bound and drops the rest, counting them, and health says why.
func TestPublishDropsWhenTheQueueIsFull(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.WithQueueSize(10), redisstore.WithQueueSize(0))
	r := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1, Store: store})
	for i := range 25 {
		trip(t, r.Get("clinic-"+strconv.Itoa(i)))
	}
	for i := range 5 {
		r.Get("clinic-" + strconv.Itoa(i)).Reset() // replaces its open in the queue
	}
	st := store.Stats()
	assert.Equal(t, 10, st.Queued)
	assert.Equal(t, int64(15), st.Dropped)
	res := store.Check("breakers").Func(context.Background())
	assert.Equal(t, health.Degraded, res.Status)
	assert.Equal(t, "not watching Redis (Store.Watch is not running): circuit breakers run instance-local", res.Message)
	assert.Equal(t, int64(15), res.Details["dropped"])
}
