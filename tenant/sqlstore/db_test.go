package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/internal/testenv"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

// forEachDB runs fn as the subtests "sqlite" and "postgres", each on a fresh,
// empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sql.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t).db) })
}

// openSQLite opens a new SQLite file database under t.TempDir, set up for
// concurrent writers.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	return testenv.SQLite(t, sqlstore.SQLiteDSNParams)
}

// pgDB is a PostgreSQL database confined to a schema of its own.
type pgDB struct {
	db     *sql.DB
	schema string // first and only schema of the search_path
	url    string // connection string with that search_path
}

// openPostgres connects to a new schema of its own (testenv.PostgresSchema),
// dropped when the test ends. Notices (RAISE WARNING) go to onNotice when
// given.
func openPostgres(t *testing.T, onNotice ...func(*pgconn.Notice)) *pgDB {
	t.Helper()
	pg := &pgDB{}
	pg.url, pg.schema = testenv.PostgresSchema(t)
	pg.db = pg.connect(t, "", pg.schema, onNotice...)
	return pg
}

// connect opens a pool on pg's database as role ("" for the test's own
// user) with search_path. Notices (RAISE WARNING) go to onNotice when given.
func (pg *pgDB) connect(t *testing.T, role, searchPath string, onNotice ...func(*pgconn.Notice)) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(pg.url)
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = searchPath
	if role != "" {
		cfg.RuntimeParams["role"] = role
	}
	if len(onNotice) > 0 {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
			for _, f := range onNotice {
				f(n)
			}
		}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	t.Cleanup(func() { _ = db.Close() }) // runs before the schema is dropped
	return db
}

// role creates a role named after pg's schema and suffix, with the given
// attributes (e.g. "NOLOGIN NOBYPASSRLS"); it and what it owns are dropped
// when the test ends, after the pools opened later are closed.
func (pg *pgDB) role(t *testing.T, suffix, attributes string) string {
	t.Helper()
	name := pg.schema + "_" + suffix
	_, err := pg.db.ExecContext(t.Context(), "CREATE ROLE "+name+" "+attributes)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := pg.db.ExecContext(context.Background(), "DROP OWNED BY "+name+" CASCADE; DROP ROLE "+name)
		if err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a migrated Store on db.
func newStore(t *testing.T, db *sql.DB, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, opts...)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}

// count returns the number of rows of a table.
func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
