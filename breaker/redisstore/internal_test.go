package redisstore

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessages(t *testing.T) {
	s := New(nil)
	for _, e := range []entry{
		{key: "clinic", update: update{open: true, until: 1_700_000_000_123}},
		{key: "clinic with spaces", update: update{}},
		{key: "", update: update{open: true, until: 1}},
	} {
		from, got, ok := parseMessage(s.message(e))
		require.True(t, ok, "%+v", e)
		assert.Equal(t, s.id, from)
		assert.Equal(t, e, got)
	}
	for _, m := range []string{"", "id o 12", "id x 12 key", "id o twelve key", "hello"} {
		_, _, ok := parseMessage(m)
		assert.False(t, ok, "%q", m)
	}
}

func TestRunID(t *testing.T) {
	assert.Equal(t, "abc123", runID("# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:6379\r\n"))
	assert.Empty(t, runID("# Server\r\n"))
}

// testRedis connects to the shared test Redis (see the external tests).
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("RESILIENCE_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("RESILIENCE_TEST_REQUIRE_SERVERS") == "1" {
			t.Fatal("RESILIENCE_TEST_REDIS_URL is not set (RESILIENCE_TEST_REQUIRE_SERVERS=1)")
		}
		t.Skip("set RESILIENCE_TEST_REDIS_URL to run against Redis")
	}
	opt, err := redis.ParseURL(u)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// A prefix with glob characters matches itself only.
func TestPrefixWithGlobCharacters(t *testing.T) {
	rdb := testRedis(t)
	ctx := context.Background()
	base := "test:glob:" + instanceID()
	until := time.Now().Add(time.Minute).UnixMilli()
	for _, k := range []string{base + "[*]?:clinic", base + "x]a:other", base + "]:x"} {
		require.NoError(t, rdb.Set(ctx, k, until, time.Minute).Err())
		t.Cleanup(func() { rdb.Del(ctx, k) })
	}
	s := New(rdb, WithPrefix(base+"[*]?:"))
	found, _, err := s.readOpen(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"clinic": until}, found)
}

// On catching up, a key that vanished before its open period ended was
// closed meanwhile and is synced; unless the server restarted, and lost it.
func TestCatchUpClosesVanishedKeysUnlessRedisRestarted(t *testing.T) {
	rdb := testRedis(t)
	ctx := context.Background()
	s := New(rdb, WithPrefix("test:catchup:"+instanceID()+":"))
	_, server, err := s.readOpen(ctx)
	require.NoError(t, err)
	future, past := time.Now().Add(time.Minute).UnixMilli(), time.Now().Add(-time.Second).UnixMilli()
	reopened := time.Now().Add(2 * time.Minute).UnixMilli()
	require.NoError(t, rdb.Set(ctx, s.prefix+"reopened", reopened, time.Minute).Err())
	t.Cleanup(func() { rdb.Del(ctx, s.prefix+"reopened") })

	for _, tt := range []struct {
		name   string
		server string
		synced []string
		mirror map[string]int64
	}{
		{"same server", server, []string{"closed", "reopened"},
			map[string]int64{"ended": past, "reopened": reopened}},
		{"restarted server", "another run", []string{"reopened"},
			map[string]int64{"closed": future, "ended": past, "reopened": reopened}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.server = tt.server
			s.mirror = map[string]int64{"closed": future, "ended": past, "reopened": future}
			var synced []string
			require.NoError(t, s.catchUp(ctx, func(_ context.Context, key string) error {
				synced = append(synced, key)
				return nil
			}))
			assert.ElementsMatch(t, tt.synced, synced)
			assert.Equal(t, tt.mirror, s.mirror)
			assert.Equal(t, server, s.server)
		})
	}
}

// The mirror forgets open periods that ended more than a minute ago, and
// keeps the others.
func TestPruneForgetsLongEndedPeriods(t *testing.T) {
	s := New(nil)
	now := time.Now()
	s.mirror = map[string]int64{
		"open":       now.Add(time.Minute).UnixMilli(),
		"just ended": now.Add(-time.Second).UnixMilli(),
		"ended":      now.Add(-time.Minute - time.Second).UnixMilli(),
	}
	s.prune()
	assert.Equal(t, []string{"just ended", "open"}, slices.Sorted(maps.Keys(s.mirror)))
}

// The documented defaults.
func TestDefaults(t *testing.T) {
	s := New(nil)
	assert.Equal(t, "breaker:", s.prefix)
	assert.Equal(t, "breaker:changes", s.channel)
	assert.Equal(t, 10_000, s.queueSize)
	assert.Equal(t, 5*time.Second, s.pingEvery)
}

// A sync that fails for a key (a closure that cannot parse it, say) does
// not stop the catch-up: the other keys are synced.
func TestCatchUpGoesOnWhenSyncFails(t *testing.T) {
	rdb := testRedis(t)
	ctx := context.Background()
	s := New(rdb, WithPrefix("test:catchup:"+instanceID()+":"))
	until := time.Now().Add(time.Minute).UnixMilli()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, rdb.Set(ctx, s.prefix+k, until, time.Minute).Err())
		t.Cleanup(func() { rdb.Del(ctx, s.prefix+k) })
	}
	var synced []string
	require.NoError(t, s.catchUp(ctx, func(_ context.Context, key string) error {
		synced = append(synced, key)
		return errors.New("cannot sync " + key)
	}))
	assert.ElementsMatch(t, []string{"a", "b", "c"}, synced)
}
