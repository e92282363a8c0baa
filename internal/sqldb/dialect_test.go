package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/voxanne/resilience/internal/testenv"
)

// otherDriver is a driver of neither dialect.
type otherDriver struct{}

func (otherDriver) Open(string) (driver.Conn, error) { return nil, errors.New("not a database") }

type otherConnector struct{}

func (otherConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("not a database")
}
func (otherConnector) Driver() driver.Driver { return otherDriver{} }

func TestDetectAndPick(t *testing.T) {
	// sql.Open connects to nothing: the URL need not reach a server.
	pg := testenv.Open(t, "pgx", "postgres://nobody@127.0.0.1:1/none")
	lite := testenv.SQLite(t, "")
	other := sql.OpenDB(otherConnector{})
	t.Cleanup(func() { _ = other.Close() })

	assert.Equal(t, Postgres, Detect(pg))
	assert.Equal(t, SQLite, Detect(lite))
	assert.Equal(t, Dialect(0), Detect(other))

	for _, tt := range []struct {
		db    *sql.DB
		given Dialect
		want  Dialect
		err   error
	}{
		{pg, 0, Postgres, nil},
		{lite, 0, SQLite, nil},
		{other, 0, 0, ErrUnknownDialect},
		{other, Postgres, Postgres, nil}, // a wrapping driver, dialect given
		{other, SQLite, SQLite, nil},
		{lite, Postgres, Postgres, nil}, // given beats detected
		{pg, Dialect(3), 0, ErrUnknownDialect},
	} {
		got, err := Pick(tt.db, tt.given)
		assert.Equal(t, tt.want, got, "%s given %d", Detect(tt.db), tt.given)
		assert.Equal(t, tt.err, err)
	}
	assert.EqualError(t, ErrUnknownDialect, "sqlstore: unknown SQL dialect; use WithDialect")
}

func TestDialectString(t *testing.T) {
	assert.Equal(t, "postgres", Postgres.String())
	assert.Equal(t, "sqlite", SQLite.String())
	assert.Equal(t, "Dialect(0)", Dialect(0).String())
	assert.Equal(t, "Dialect(7)", Dialect(7).String())
}

func TestRebind(t *testing.T) {
	q := `UPDATE t SET a = $2 WHERE id = $1 AND v = $10`
	assert.Equal(t, q, Postgres.Rebind(q))
	assert.Equal(t, `UPDATE t SET a = ?2 WHERE id = ?1 AND v = ?10`, SQLite.Rebind(q))
}

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pg " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

type liteErr int

func (e liteErr) Error() string { return fmt.Sprintf("sqlite %d", int(e)) }
func (e liteErr) Code() int     { return int(e) }

func TestErrorClasses(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("exec: %w", err) }
	for _, tt := range []struct {
		d                      Dialect
		err                    error
		busy, conflict, unique bool
	}{
		{Postgres, sqlStateErr("40001"), true, true, false},
		{Postgres, sqlStateErr("40P01"), true, true, false},
		{Postgres, wrapped(sqlStateErr("40P01")), true, true, false},
		{Postgres, sqlStateErr("23505"), false, true, true},
		{Postgres, sqlStateErr("42P07"), false, false, false},
		{Postgres, liteErr(5), false, false, false},
		{Postgres, liteErr(2067), false, false, false},
		{Postgres, errors.New("boom"), false, false, false},
		{SQLite, liteErr(5), true, true, false},
		{SQLite, liteErr(6), true, true, false},
		{SQLite, liteErr(5 | 2<<8), true, true, false}, // SQLITE_BUSY_SNAPSHOT
		{SQLite, wrapped(liteErr(6 | 1<<8)), true, true, false},
		{SQLite, liteErr(1), false, false, false},
		{SQLite, liteErr(19), false, false, false},  // a constraint is not retried
		{SQLite, liteErr(2067), false, false, true}, // SQLITE_CONSTRAINT_UNIQUE
		{SQLite, liteErr(1555), false, false, true}, // SQLITE_CONSTRAINT_PRIMARYKEY
		{SQLite, liteErr(787), false, false, false}, // SQLITE_CONSTRAINT_FOREIGNKEY
		{SQLite, sqlStateErr("40001"), false, false, false},
		{SQLite, sqlStateErr("23505"), false, false, false},
		{SQLite, errors.New("other"), false, false, false},
		{0, liteErr(5), false, false, false},
		{0, sqlStateErr("23505"), false, false, false},
	} {
		assert.Equal(t, tt.busy, tt.d.Busy(tt.err), "Busy %s %v", tt.d, tt.err)
		assert.Equal(t, tt.conflict, tt.d.Conflict(tt.err), "Conflict %s %v", tt.d, tt.err)
		assert.Equal(t, tt.unique, tt.d.UniqueViolation(tt.err), "UniqueViolation %s %v", tt.d, tt.err)
	}
}
