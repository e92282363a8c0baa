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
	// No retries inside the client: each failed write reaches the store.
	opt := &redis.Options{Addr: srv.addr(), DialTimeout: 300 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
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
	assert.Less(t, time.Since(start), 250*time.Millisecond, "tripping does not wait for Redis")
	require.NoError(t, <-slept)
	eventually(t, 3*time.Second, func() bool { return b.reg.Get("k2").State() == breaker.Open }, "shared once Redis answers")

	// Down. (The slow phase may have been an outage of its own, logged and
	// over: count the log from here.)
	a.waitReachable(t)
	eventually(t, time.Second, func() bool { return len(logs.messages())%2 == 0 }, "an outage's end is logged")
	logged := len(logs.messages())
	srv.kill()
	check := a.store.Check("breakers")
	eventually(t, 5*time.Second, func() bool { return check.Func(ctx).Status == health.Degraded }, "health shows the outage")
	r := check.Func(ctx)
	assert.Contains(t, r.Message, "circuit breakers run instance-local")
	assert.Contains(t, r.Details, "downSince")
	start = time.Now()
	trip(t, a.reg.Get("k3"))
	assert.Less(t, time.Since(start), 250*time.Millisecond, "tripping does not wait for Redis")
	assert.True(t, rejects(a.reg.Get("k3")), "the local breaker works")
	assert.True(t, rejects(b.reg.Get("k1")), "local state is kept")
	errs := a.store.Stats().Errors
	time.Sleep(500 * time.Millisecond) // several failed reconnections
	// Retries are paced (50ms, doubling to 2s), not a busy loop: in half a
	// second the subscriber and the publisher try about four times each.
	t.Logf("%d failed attempts in half a second", a.store.Stats().Errors-errs)
	assert.LessOrEqual(t, a.store.Stats().Errors-errs, int64(12))
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
	assert.Less(t, time.Duration(steady.slowest.Load()), 250*time.Millisecond, "no call waited for Redis (writes time out after 300ms)")

	var warns, infos int
	for _, m := range logs.messages()[logged:] {
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

// silentServer listens for connections that it accepts and never answers,
// like a Redis on the far side of a network partition.
func silentServer(t *testing.T) string {
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
	return l.Addr().String()
}

// A Redis that accepts connections and never answers: calls never wait,
// transitions of one key replace each other in the queue, and the store
// reports itself degraded once a write times out.
func TestUnresponsiveRedisNeverBlocksCalls(t *testing.T) {
	opt := &redis.Options{Addr: silentServer(t), ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	logs := &logRecorder{}
	in := newInstance(t, opt, "p:", breaker.Settings{ConsecutiveFailures: 1}, redisstore.WithLogger(slog.New(logs)))
	check := in.store.Check("breakers")
	br := in.reg.Get("clinic")
	start := time.Now()
	for range 1000 {
		trip(t, br)
		br.Reset()
	}
	elapsed := time.Since(start)
	assert.Less(t, elapsed, time.Second, "1000 trips and resets")
	eventually(t, 5*time.Second, func() bool {
		return strings.HasPrefix(check.Func(context.Background()).Message, "cannot reach Redis")
	}, "degraded")
	st := in.store.Stats()
	assert.Equal(t, 1, st.Queued, "2000 transitions of one key: the latest waits")
	assert.Zero(t, st.Published)
	assert.False(t, st.Reachable)
	eventually(t, 5*time.Second, func() bool { return in.store.Stats().Errors >= 2 }, "errors counted")
	assert.Len(t, logs.messages(), 1, "logged once: %q", logs.messages())
}

// Until Watch has caught up with Redis once, the store says it is
// connecting.
func TestCheckWhileConnecting(t *testing.T) {
	opt := &redis.Options{Addr: silentServer(t), ReadTimeout: time.Second}
	in := newInstance(t, opt, "p:", breaker.Settings{})
	check := in.store.Check("breakers")
	eventually(t, 2*time.Second, func() bool {
		return !strings.HasPrefix(check.Func(context.Background()).Message, "not watching")
	}, "Watch runs")
	r := check.Func(context.Background())
	assert.Equal(t, health.Degraded, r.Status)
	assert.Equal(t, "connecting to Redis: circuit breakers run instance-local", r.Message)
}

// One Watch per Store at a time.
func TestWatchRunsOnce(t *testing.T) {
	in := newInstance(t, &redis.Options{Addr: silentServer(t), ReadTimeout: 100 * time.Millisecond}, "p:", breaker.Settings{})
	eventually(t, 2*time.Second, func() bool {
		return !strings.HasPrefix(in.store.Check("").Func(context.Background()).Message, "not watching")
	}, "Watch runs")
	assert.ErrorIs(t, in.store.Watch(context.Background(), in.reg.Sync), redisstore.ErrWatching)
}

// partition is a TCP proxy to a Redis that can stop forwarding, as a
// network partition would: connections stay open and go silent.
type partition struct {
	mu     sync.Mutex
	cut    bool
	healed *sync.Cond
}

func newPartition(t *testing.T, target string) (p *partition, addr string) {
	p = &partition{}
	p.healed = sync.NewCond(&p.mu)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			p.mu.Lock()
			for p.cut {
				p.healed.Wait()
			}
			p.mu.Unlock()
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = dst.Close()
				return
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, r)
			mu.Unlock()
			wg.Go(func() { pipe(r, c) })
			wg.Go(func() { pipe(c, r) })
		}
	})
	t.Cleanup(func() {
		p.heal()
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p, l.Addr().String()
}

func (p *partition) cutOff() { p.mu.Lock(); p.cut = true; p.mu.Unlock() }

func (p *partition) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.healed.Broadcast()
}

// A subscription that goes silent (a partition: no error, no answer) is
// noticed within about twice the health check interval, with nothing to
// publish; once the partition heals, sharing resumes.
func TestSilentSubscriptionIsAnOutage(t *testing.T) {
	shared := sharedRedis(t)
	p, addr := newPartition(t, shared.Addr)
	opt := *shared
	opt.Addr = addr
	opt.ReadTimeout, opt.WriteTimeout, opt.DialTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	prefix := uniquePrefix(t)
	in := newInstance(t, &opt, prefix, breaker.Settings{}, redisstore.WithHealthCheckInterval(300*time.Millisecond),
		redisstore.WithHealthCheckInterval(0))
	in.waitReachable(t)
	check := in.store.Check("breakers")
	time.Sleep(time.Second) // idle, with pings answered
	require.Equal(t, health.Healthy, check.Func(context.Background()).Status)
	require.Zero(t, in.store.Stats().Errors, "an idle subscription whose pings are answered is fine")

	p.cutOff()
	d := eventually(t, 3*time.Second, func() bool {
		return strings.HasPrefix(check.Func(context.Background()).Message, "cannot reach Redis")
	}, "the silence is noticed")
	t.Logf("noticed after %v", d)

	p.heal()
	in.waitReachable(t)
	other := newInstance(t, shared, prefix, breaker.Settings{ConsecutiveFailures: 1})
	other.waitReachable(t)
	br := in.reg.Get("clinic")
	trip(t, other.reg.Get("clinic"))
	eventually(t, time.Second, func() bool { return br.State() == breaker.Open }, "sharing resumes")
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

// The end of an outage is logged with the number of transitions dropped
// during it, not before.
func TestOutageLogCountsTheDropsDuringIt(t *testing.T) {
	srv := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	logs := &logRecorder{}
	store := redisstore.New(rdb, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithQueueSize(1),
		redisstore.WithLogger(slog.New(logs)))
	reg := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, Store: store})
	for _, k := range []string{"a", "b", "c"} {
		trip(t, reg.Get(k))
	}
	require.Equal(t, int64(2), store.Stats().Dropped, "dropped before Watch runs")

	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { _ = store.Watch(ctx, reg.Sync); close(watched) }()
	defer func() { cancel(); <-watched }()
	eventually(t, 5*time.Second, func() bool { return store.Stats().Published == 1 }, "the queued one is written")
	eventually(t, 5*time.Second, func() bool { return store.Stats().Reachable }, "caught up")

	eventually(t, time.Second, func() bool { return len(logs.messages())%2 == 0 }, "no outage in progress")
	logged := len(logs.messages())
	srv.kill()
	eventually(t, 5*time.Second, func() bool { return len(logs.messages()) == logged+1 }, "the outage begins")
	for i := range 10 {
		trip(t, reg.Get("during-"+strconv.Itoa(i)))
	}
	dropped := store.Stats().Dropped
	require.Greater(t, dropped, int64(2), "dropped during the outage")
	srv.start()
	eventually(t, 5*time.Second, func() bool { return len(logs.messages()) == logged+2 }, "the end of the outage is logged")
	assert.Contains(t, logs.messages()[logged+1], " dropped="+strconv.FormatInt(dropped-2, 10), "%q", logs.messages())
}
