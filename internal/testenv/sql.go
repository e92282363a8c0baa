package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver
	_ "modernc.org/sqlite"             // the SQLite driver
)

// Postgres returns a connection URL whose search_path is a new schema,
// dropped (with what it holds) when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	rawURL, _ := PostgresSchema(t)
	return rawURL
}

// PostgresSchema is Postgres that also returns the schema's name. Pools
// opened on the URL must be closed before the schema is dropped: register
// their t.Cleanup after calling it, as Open does.
func PostgresSchema(t testing.TB) (rawURL, schema string) {
	t.Helper()
	base := need(t, PostgresURLEnv)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	admin := Open(t, "pgx", base)
	schema = "t_" + Random(8)
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

// PostgresDB returns a pool of at most ten connections (pgx) on a new
// schema, as Postgres makes, closed when the test ends.
func PostgresDB(t testing.TB) *sql.DB {
	t.Helper()
	db := Open(t, "pgx", Postgres(t))
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
