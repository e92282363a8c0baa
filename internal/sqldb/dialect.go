package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Dialect is the SQL database a store talks to. Its values are those of the
// stores' own Dialect types, so that a conversion carries them over.
type Dialect uint8

const (
	// Postgres is PostgreSQL (pgx, lib/pq).
	Postgres Dialect = iota + 1
	// SQLite is SQLite (modernc.org/sqlite, mattn/go-sqlite3).
	SQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", uint8(d))
}

// ErrUnknownDialect is returned by Pick when the dialect cannot be told from
// the driver and none was given.
var ErrUnknownDialect = errors.New("sqlstore: unknown SQL dialect; use WithDialect")

// Detect returns the dialect of db's driver, told from the package of its
// type: pgx and lib/pq are Postgres; modernc.org/sqlite and
// mattn/go-sqlite3 are SQLite. Any other driver gives 0.
func Detect(db *sql.DB) Dialect {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch pkg := t.PkgPath(); {
	case strings.HasPrefix(pkg, "github.com/jackc/pgx/"), pkg == "github.com/lib/pq":
		return Postgres
	case pkg == "modernc.org/sqlite", pkg == "github.com/mattn/go-sqlite3":
		return SQLite
	}
	return 0
}

// Pick returns d, or the dialect Detect finds when d is 0, and
// ErrUnknownDialect when that is neither Postgres nor SQLite.
func Pick(db *sql.DB, d Dialect) (Dialect, error) {
	if d == 0 {
		d = Detect(db)
	}
	if d != Postgres && d != SQLite {
		return 0, ErrUnknownDialect
	}
	return d, nil
}

// Rebind returns query, written with $n placeholders, in the dialect: ?n
// for SQLite.
func (d Dialect) Rebind(query string) string {
	if d == SQLite {
		return strings.ReplaceAll(query, "$", "?")
	}
	return query
}

// Busy reports whether err is a lock conflict with a concurrent
// transaction that a fresh attempt resolves: SQLITE_BUSY or SQLITE_LOCKED
// (extended codes included) on SQLite, serialization_failure or
// deadlock_detected on PostgreSQL.
func (d Dialect) Busy(err error) bool {
	switch d {
	case Postgres:
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) {
			switch pgErr.SQLState() {
			case "40001", "40P01": // serialization_failure, deadlock_detected
				return true
			}
		}
	case SQLite:
		var liteErr interface{ Code() int }
		if errors.As(err, &liteErr) {
			switch liteErr.Code() & 0xff {
			case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED and their extended codes
				return true
			}
		}
	}
	return false
}

// Conflict reports whether err is Busy or, on PostgreSQL, a unique
// violation: a concurrent transaction inserted the same key first, and a
// fresh attempt reads it.
func (d Dialect) Conflict(err error) bool {
	return d.Busy(err) || d == Postgres && d.UniqueViolation(err)
}

// UniqueViolation reports whether err is a violated unique constraint:
// unique_violation on PostgreSQL, SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY on SQLite.
func (d Dialect) UniqueViolation(err error) bool {
	switch d {
	case Postgres:
		var pgErr interface{ SQLState() string }
		return errors.As(err, &pgErr) && pgErr.SQLState() == "23505"
	case SQLite:
		var liteErr interface{ Code() int }
		return errors.As(err, &liteErr) && (liteErr.Code() == 2067 || liteErr.Code() == 1555)
	}
	return false
}
