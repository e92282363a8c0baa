package store

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
	_ "modernc.org/sqlite"             // SQLite, pure Go

	tenantsql "github.com/voxanne/resilience/tenant/sqlstore"
)

// DefaultSQLiteFile is the database of a server given no DATABASE_URL, in
// its working directory.
const DefaultSQLiteFile = "resilience.db"

// SQLiteDSN returns the DSN of a SQLite file with the parameters every
// store of the module needs (tenant/sqlstore's SQLiteDSNParams): writers
// wait for each other (busy_timeout), readers do not wait for writers
// (WAL), foreign keys are enforced. It adds synchronous(NORMAL): in WAL
// mode a commit is then not flushed to disk before it returns, only at
// checkpoints, which doubled the bookings per second of the load command
// (each booking commits about fifteen times, across the stores). A crash
// of the process loses nothing; a power cut may lose the last commits, never
// the database. Production runs on PostgreSQL.
func SQLiteDSN(path string) string {
	return "file:" + path + "?" + tenantsql.SQLiteDSNParams + "&_pragma=synchronous(NORMAL)"
}

// SQLiteConns is the size of a SQLite pool.
const SQLiteConns = 4

// Open opens the database of rawURL: a postgres:// or postgresql:// URL
// (PostgreSQL through pgx), or a SQLite DSN ("file:..." or a path), which
// must set busy_timeout. "" is DefaultSQLiteFile.
func Open(rawURL string) (*sql.DB, Dialect, error) {
	switch {
	case rawURL == "":
		rawURL = SQLiteDSN(DefaultSQLiteFile)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		if _, err := url.Parse(rawURL); err != nil {
			return nil, 0, fmt.Errorf("not a PostgreSQL URL: %v", redactURLError(err))
		}
		db, err := sql.Open("pgx", rawURL)
		if err != nil {
			return nil, 0, err
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		return db, Postgres, nil
	case strings.Contains(rawURL, "://"):
		return nil, 0, fmt.Errorf("want a postgres:// URL or a SQLite file, not a %s URL", rawURL[:strings.Index(rawURL, "://")])
	}
	if !strings.HasPrefix(rawURL, "file:") {
		rawURL = SQLiteDSN(rawURL)
	}
	if !strings.Contains(rawURL, "busy_timeout") {
		return nil, 0, fmt.Errorf("a SQLite DSN needs _pragma=busy_timeout(5000): concurrent writers would fail instead of waiting")
	}
	db, err := sql.Open("sqlite", rawURL)
	if err != nil {
		return nil, 0, err
	}
	// SQLite has one writer at a time: a hundred connections waiting in
	// its busy handler (which sleeps, up to 100ms a turn) serve writers
	// more slowly than a few connections that database/sql hands over in
	// turn, and leave some past their deadline.
	db.SetMaxOpenConns(SQLiteConns)
	db.SetMaxIdleConns(SQLiteConns)
	return db, SQLite, nil
}

// redactURLError drops the URL (and its password) from a url.Parse error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
