package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
)

// commandsProcessed reads total_commands_processed from INFO stats.
func commandsProcessed(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	require.NoError(t, err)
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no total_commands_processed in INFO stats")
	return 0
}

// 100,000 successful calls through closed breakers, including the creation
// of 1,000 of them, cost Redis nothing: the server of the test's own counts
// the commands (INFO stats).
func TestClosedSuccessesMakeNoRedisCommands(t *testing.T) {
	srv := startRedis(t)
	opt := &redis.Options{Addr: srv.addr()}
	in := newInstance(t, opt, uniquePrefix(t), breaker.Settings{})
	in.waitReachable(t)
	admin := redis.NewClient(opt)
	defer admin.Close()

	before := commandsProcessed(t, admin)
	calls := 0
	for i := range 100_000 {
		done, err := in.reg.Get("clinic-" + strconv.Itoa(i%1000)).Allow()
		require.NoError(t, err)
		done(nil)
		calls++
	}
	after := commandsProcessed(t, admin)
	t.Logf("%d calls, %d Redis commands (the first INFO included)", calls, after-before)
	assert.LessOrEqual(t, after-before, 2, "the first INFO, and at most one ping of the subscription")
}
