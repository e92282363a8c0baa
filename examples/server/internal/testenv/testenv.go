// Package testenv gives the reference server's tests (and the chaos
// command's) the real servers they run on: a PostgreSQL schema of their
// own and a Redis key prefix of their own, from RESILIENCE_TEST_POSTGRES_URL
// and RESILIENCE_TEST_REDIS_URL. Without them a test is skipped, or fails
// when RESILIENCE_TEST_REQUIRE_SERVERS=1.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver
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

// Postgres returns a connection URL whose search_path is a new schema,
// dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := need(t, PostgresURLEnv)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "srv_" + Random(8)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
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
