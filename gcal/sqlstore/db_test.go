package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/gcal/sqlstore"
)

const (
	postgresURLEnv    = "RESILIENCE_TEST_POSTGRES_URL"
	requireServersEnv = "RESILIENCE_TEST_REQUIRE_SERVERS"
)

// testDB is a fresh, empty database and a way to open more pools on it, as
// other processes would.
type testDB struct {
	db   *sql.DB
	open func(t *testing.T) *sql.DB
}

// forEachDB runs fn as the subtests "sqlite" and "postgres", each on a
// fresh, empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, d testDB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDB(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDB(t)) })
}

// sqliteDB is a SQLite file under t.TempDir, set up for concurrent writers.
func sqliteDB(t *testing.T) testDB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "gcal.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	open := func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	return testDB{db: open(t), open: open}
}

// postgresDB connects to RESILIENCE_TEST_POSTGRES_URL with the search_path
// set to a new schema, dropped when the test ends. It skips the test when
// the variable is unset, or fails it when RESILIENCE_TEST_REQUIRE_SERVERS=1.
func postgresDB(t *testing.T) testDB {
	t.Helper()
	base := os.Getenv(postgresURLEnv)
	if base == "" {
		if os.Getenv(requireServersEnv) == "1" {
			t.Fatal(postgresURLEnv + " is unset and " + requireServersEnv + "=1")
		}
		t.Skip("set " + postgresURLEnv + " to run against PostgreSQL")
	}
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "g_" + hex.EncodeToString(b)
	_, err = admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	open := func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", u.String())
		require.NoError(t, err)
		db.SetMaxOpenConns(10)
		t.Cleanup(func() { _ = db.Close() }) // before the schema is dropped
		return db
	}
	return testDB{db: open(t), open: open}
}

// keyA and keyB are two encryption keys.
var (
	keyA = sqlstore.Key{ID: "2026-a", Secret: []byte("0123456789abcdef0123456789abcdef")}
	keyB = sqlstore.Key{ID: "2026-b", Secret: []byte("fedcba9876543210fedcba9876543210")}
)

// newStore returns a migrated Store on db.
func newStore(t *testing.T, db *sql.DB, key sqlstore.Key, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, key, opts...)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}
