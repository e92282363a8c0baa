// Package testenv gives the module's tests (the SQL stores', the reference
// server's and the chaos command's) the databases and servers they run on:
// a PostgreSQL schema of their own and a Redis key prefix of their own, from
// RESILIENCE_TEST_POSTGRES_URL and RESILIENCE_TEST_REDIS_URL, or a SQLite
// file of their own. Without those variables a test is skipped, or fails
// when RESILIENCE_TEST_REQUIRE_SERVERS=1.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The variables the tests read.
const (
	PostgresURLEnv    = "RESILIENCE_TEST_POSTGRES_URL"
	RedisURLEnv       = "RESILIENCE_TEST_REDIS_URL"
	RequireServersEnv = "RESILIENCE_TEST_REQUIRE_SERVERS"
)

func need(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv(RequireServersEnv) == "1" {
			t.Fatalf("%s is unset and %s=1", env, RequireServersEnv)
		}
		t.Skipf("set %s to run against a real server", env)
	}
	return v
}

// Redis returns the Redis URL and a key prefix of the test's own, whose
// keys are deleted when the test ends.
func Redis(t testing.TB) (rawURL, prefix string) {
	t.Helper()
	rawURL = need(t, RedisURLEnv)
	prefix = "test:" + Random(8) + ":"
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return rawURL, prefix
}

// Random returns n random bytes in hex.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Buffer is a bytes.Buffer safe for the concurrent writes of a server's
// log.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
