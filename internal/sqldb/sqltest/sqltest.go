// Package sqltest gives the tests of the module's SQL stores a database of
// their own: a new PostgreSQL schema on the server of
// RESILIENCE_TEST_POSTGRES_URL, or a new SQLite file. Without that variable
// a PostgreSQL test is skipped, or fails when
// RESILIENCE_TEST_REQUIRE_SERVERS=1.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver
	_ "modernc.org/sqlite"             // the SQLite driver
)

// The variables the tests read.
const (
	PostgresURLEnv    = "RESILIENCE_TEST_POSTGRES_URL"
	RequireServersEnv = "RESILIENCE_TEST_REQUIRE_SERVERS"
)

// PostgresURL returns a connection URL whose search_path is a new schema,
// dropped (with what it holds) when the test ends, and the schema's name.
// Pools opened on it must be closed before: register their t.Cleanup after
// calling PostgresURL.
func PostgresURL(t testing.TB) (rawURL, schema string) {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		if os.Getenv(RequireServersEnv) == "1" {
			t.Fatalf("%s is unset and %s=1", PostgresURLEnv, RequireServersEnv)
		}
		t.Skipf("set %s to run against PostgreSQL", PostgresURLEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema = "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// Postgres returns a pool of at most ten connections (pgx) on a new schema,
// as PostgresURL makes, closed when the test ends.
func Postgres(t testing.TB) *sql.DB {
	t.Helper()
	rawURL, _ := PostgresURL(t)
	db := Open(t, "pgx", rawURL)
	db.SetMaxOpenConns(10)
	return db
}

// SQLite returns a pool on a new SQLite file under t.TempDir, with the
// connection parameters params ("" for none), closed when the test ends.
func SQLite(t testing.TB, params string) *sql.DB {
	t.Helper()
	return Open(t, "sqlite", SQLiteDSN(t, params))
}

// SQLiteDSN returns the DSN of a new SQLite file under t.TempDir, with the
// connection parameters params ("" for none).
func SQLiteDSN(t testing.TB, params string) string {
	dsn := "file:" + filepath.Join(t.TempDir(), "test.db")
	if params != "" {
		dsn += "?" + params
	}
	return dsn
}

// Open opens a pool on dsn with driver, closed when the test ends.
func Open(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
