package sqlstore_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/internal/testenv"
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
	dsn := testenv.SQLiteDSN(t, "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	open := func(t *testing.T) *sql.DB { return testenv.Open(t, "sqlite", dsn) }
	return testDB{db: open(t), open: open}
}

// postgresDB is a schema of its own on RESILIENCE_TEST_POSTGRES_URL (see
// testenv.Postgres), in pools of ten connections.
func postgresDB(t *testing.T) testDB {
	t.Helper()
	url := testenv.Postgres(t)
	open := func(t *testing.T) *sql.DB {
		db := testenv.Open(t, "pgx", url)
		db.SetMaxOpenConns(10)
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
