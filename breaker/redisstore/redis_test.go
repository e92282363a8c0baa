package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
)

const (
	redisURLEnv       = "RESILIENCE_TEST_REDIS_URL"
	requireServersEnv = "RESILIENCE_TEST_REQUIRE_SERVERS"
)

// needServers skips the test for want of a server, or fails it when
// RESILIENCE_TEST_REQUIRE_SERVERS=1 (in CI).
func needServers(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(requireServersEnv) == "1" {
		t.Fatalf("%s (%s=1)", why, requireServersEnv)
	}
	t.Skip(why)
}

// sharedRedis returns the options of the test Redis that other tests (and
// other packages) share: use a unique prefix, never FLUSHDB.
func sharedRedis(t testing.TB) *redis.Options {
	t.Helper()
	u := os.Getenv(redisURLEnv)
	if u == "" {
		needServers(t, "set "+redisURLEnv+" to run against Redis")
	}
	opt, err := redis.ParseURL(u)
	require.NoError(t, err)
	return opt
}

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(b[:]) + ":"
}

// redisServer is a redis-server of the test's own, to kill and restart.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free port, without persistence.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		needServers(t, "redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &redisServer{t: t, port: port}
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.kill()
		}
	})
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server and waits until it answers.
func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--enable-debug-command", "yes")
	require.NoError(s.t, s.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		require.True(s.t, time.Now().Before(deadline), "redis-server on %s did not start", s.addr())
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server by its PID and waits for it to exit.
func (s *redisServer) kill() {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Kill())
	_ = s.cmd.Wait()
	s.cmd = nil
}

// instance is one instance of a service: a client, a store watched for
// the length of the test, and a registry on it.
type instance struct {
	rdb   *redis.Client
	store *redisstore.Store
	reg   *breaker.Registry[string]
}

func newInstance(t testing.TB, opt *redis.Options, prefix string, s breaker.Settings, opts ...redisstore.Option) *instance {
	t.Helper()
	in := newIdleInstance(t, opt, prefix, s, opts...)
	in.watch(t)
	return in
}

// newIdleInstance is newInstance without Watch: its store queues what its
// breakers publish until watch is called.
func newIdleInstance(t testing.TB, opt *redis.Options, prefix string, s breaker.Settings, opts ...redisstore.Option) *instance {
	t.Helper()
	o := *opt
	rdb := redis.NewClient(&o)
	store := redisstore.New(rdb, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, opts...)...)
	s.Store = store
	t.Cleanup(func() { _ = rdb.Close() })
	return &instance{rdb: rdb, store: store, reg: breaker.NewRegistry[string](s)}
}

// watch runs the instance's Watch until the test ends.
func (in *instance) watch(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.store.Watch(ctx, in.reg.Sync) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}

// waitReachable waits until the instance's store has caught up with Redis.
func (in *instance) waitReachable(t testing.TB) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return in.store.Stats().Reachable }, "store reaches Redis")
}

// eventually polls cond until it holds or within has passed, and returns
// how long it took. Real time: these tests run against real servers.
func eventually(t testing.TB, within time.Duration, cond func() bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

var errDown = fmt.Errorf("vendor: 503")

// trip fails calls through b until it opens.
func trip(t testing.TB, b *breaker.Breaker) {
	t.Helper()
	for range 100 {
		done, err := b.Allow()
		if err != nil {
			require.ErrorIs(t, err, breaker.ErrOpen)
			return
		}
		done(errDown)
	}
	t.Fatal("the breaker never opened")
}

// rejects reports whether b rejects a call; an admitted call succeeds.
func rejects(b *breaker.Breaker) bool {
	done, err := b.Allow()
	if err != nil {
		return true
	}
	done(nil)
	return false
}

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string // "LEVEL message key=value..."
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	m := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		m += " " + a.Key + "=" + a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *logRecorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}
