package sqldb

import (
	"context"
	"database/sql"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/internal/testenv"
)

// testDB is a fresh database and a way to open more pools on it, as other
// instances of a service would.
type testDB struct {
	dialect Dialect
	open    func(t *testing.T) *sql.DB
}

// forEachDB runs fn as the subtests "sqlite" and "postgres", each on a
// fresh, empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, d testDB)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := testenv.SQLiteDSN(t, "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		fn(t, testDB{SQLite, func(t *testing.T) *sql.DB { return testenv.Open(t, "sqlite", dsn) }})
	})
	t.Run("postgres", func(t *testing.T) {
		url := testenv.Postgres(t)
		fn(t, testDB{Postgres, func(t *testing.T) *sql.DB { return testenv.Open(t, "pgx", url) }})
	})
}

// files returns migrations of both dialects, the same SQL in each.
func files(sql map[string]string) fs.FS {
	fsys := fstest.MapFS{}
	for name, text := range sql {
		for _, d := range []string{"postgres", "sqlite"} {
			fsys["migrations/"+d+"/"+name] = &fstest.MapFile{Data: []byte(text)}
		}
	}
	return fsys
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n))
	return n
}

// exists reports whether table exists, as seen from db.
func exists(t *testing.T, db *sql.DB, d Dialect, table string) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if d == Postgres {
		q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	}
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), d.Rebind(q), table).Scan(&n))
	return n == 1
}

var counted = Migrations{
	Files: files(map[string]string{
		"001_create.sql": `CREATE TABLE runs (n integer NOT NULL)`,
		"002_run.sql":    `INSERT INTO runs (n) VALUES (2)`,
	}),
	Table:   "sqldb_test_migrations",
	LockKey: 0x7371_6c64_6274, // "sqldbt"
}

// TestMigrateConcurrent: instances that migrate together, each on its own
// pool, apply each migration once.
func TestMigrateConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		var wg sync.WaitGroup
		for range 6 {
			db := d.open(t)
			wg.Go(func() { assert.NoError(t, Migrate(t.Context(), db, d.dialect, counted)) })
		}
		wg.Wait()
		db := d.open(t)
		require.NoError(t, Migrate(t.Context(), db, d.dialect, counted), "again")
		assert.Equal(t, 1, count(t, db, "runs"), "002 ran once")
		assert.Equal(t, 2, count(t, db, counted.Table))

		rows, err := db.QueryContext(t.Context(), `SELECT version, name, applied_at FROM `+counted.Table+` ORDER BY version`)
		require.NoError(t, err)
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v int
			var name string
			var at any
			require.NoError(t, rows.Scan(&v, &name, &at))
			assert.NotEmpty(t, at)
			got = append(got, name)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []string{"create", "run"}, got)
	})
}

// TestMigrateAppliesOnlyNewVersions: a migration added later runs alone.
func TestMigrateAppliesOnlyNewVersions(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		db := d.open(t)
		require.NoError(t, Migrate(t.Context(), db, d.dialect, counted))
		more := counted
		more.Files = files(map[string]string{
			"001_create.sql": `CREATE TABLE runs (n integer NOT NULL)`,
			"002_run.sql":    `INSERT INTO runs (n) VALUES (2)`,
			"003_more.sql":   `INSERT INTO runs (n) VALUES (3)`,
		})
		require.NoError(t, Migrate(t.Context(), db, d.dialect, more))
		assert.Equal(t, 2, count(t, db, "runs"))
		assert.Equal(t, 3, count(t, db, counted.Table))
	})
}

// TestMigrateAppliedAtText: the layout in which applied_at is text that
// Migrate writes, RFC 3339.
func TestMigrateAppliedAtText(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		db := d.open(t)
		m := counted
		m.AppliedAtText = true
		before := time.Now().UTC().Truncate(time.Second)
		require.NoError(t, Migrate(t.Context(), db, d.dialect, m))
		var at string
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT applied_at FROM `+m.Table+` WHERE version = 2`).Scan(&at))
		parsed, err := time.Parse(time.RFC3339, at)
		require.NoError(t, err, at)
		assert.Equal(t, time.UTC, parsed.Location(), at)
		assert.WithinRange(t, parsed, before, time.Now())
	})
}

// TestFailedMigrationRollsBack: a failing migration leaves no table
// behind, not even the record of versions, and no open transaction: on a
// pool of one connection, what runs next runs outside of it.
func TestFailedMigrationRollsBack(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		db := d.open(t)
		db.SetMaxOpenConns(1)
		bad := counted
		bad.Files = files(map[string]string{
			"001_create.sql": `CREATE TABLE runs (n integer NOT NULL)`,
			"002_bad.sql":    `INSERT INTO missing (n) VALUES (1)`,
		})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := Migrate(ctx, db, d.dialect, bad)
		require.ErrorContains(t, err, "002_bad: ")
		assert.False(t, d.dialect.Conflict(err))

		other := d.open(t)
		assert.False(t, exists(t, other, d.dialect, "runs"), "001 rolled back")
		assert.False(t, exists(t, other, d.dialect, bad.Table), "the record rolled back")

		_, err = db.ExecContext(ctx, `CREATE TABLE after (n integer)`)
		require.NoError(t, err, "the connection is free again")
		assert.True(t, exists(t, other, d.dialect, "after"), "committed: no transaction was left open")
		require.NoError(t, Migrate(ctx, db, d.dialect, counted))
		assert.Equal(t, 1, count(t, other, "runs"))
	})
}

// TestLocked: fn's work commits when it returns nil and rolls back when it
// fails.
func TestLocked(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		db := d.open(t)
		db.SetMaxOpenConns(1)
		ctx := t.Context()
		create := func(table string, fail error) error {
			return Locked(ctx, db, d.dialect, counted.LockKey, func(tx Execer) error {
				if _, err := tx.ExecContext(ctx, `CREATE TABLE `+table+` (n integer)`); err != nil {
					return err
				}
				return fail
			})
		}
		boom := assert.AnError
		require.ErrorIs(t, create("undone", boom), boom)
		require.NoError(t, create("done", nil))
		other := d.open(t)
		assert.False(t, exists(t, other, d.dialect, "undone"))
		assert.True(t, exists(t, other, d.dialect, "done"))
		require.Error(t, create("done", nil), "exists")
		require.NoError(t, create("again", nil), "the failed statement was rolled back")
	})
}

func TestMigrateRefusesSQLiteWithoutBusyTimeout(t *testing.T) {
	db := testenv.SQLite(t, "")
	m := counted
	m.SQLiteParams = "_pragma=busy_timeout(5000)"
	err := Migrate(t.Context(), db, SQLite, m)
	require.ErrorIs(t, err, ErrNoBusyTimeout)
	assert.EqualError(t, err, "sqlstore: migrate: SQLite connections without busy_timeout: concurrent writers "+
		"would fail with SQLITE_BUSY; open the database with \"file:app.db?_pragma=busy_timeout(5000)\" "+
		"(modernc.org/sqlite), or limit the pool to one connection")
	assert.False(t, exists(t, db, SQLite, m.Table), "refused before any change")

	db.SetMaxOpenConns(1) // one connection never waits for another
	require.NoError(t, Migrate(t.Context(), db, SQLite, m))

	ok := testenv.SQLite(t, "_pragma=busy_timeout(1000)")
	require.NoError(t, CheckBusyTimeout(t.Context(), ok, ""))
	require.NoError(t, Migrate(t.Context(), ok, SQLite, m))

	pg := testenv.Open(t, "pgx", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.Error(t, CheckBusyTimeout(t.Context(), pg, ""), "the query fails: not SQLite")
}

func TestMigrateWithoutMigrations(t *testing.T) {
	db := testenv.SQLite(t, "_pragma=busy_timeout(1000)")
	err := Migrate(t.Context(), db, SQLite, Migrations{Files: fstest.MapFS{}, Table: "m"})
	require.ErrorContains(t, err, "sqlstore: migrate: migrations: ")
	err = Migrate(t.Context(), db, Dialect(3), counted)
	require.EqualError(t, err, "sqlstore: migrate: migrations: none for this dialect")
}

func TestMigrationsOf(t *testing.T) {
	for _, d := range []Dialect{Postgres, SQLite} {
		names, err := fs.Glob(MigrationsOf(counted.Files, d), "*.sql")
		require.NoError(t, err)
		assert.Equal(t, []string{"001_create.sql", "002_run.sql"}, names)
	}
	assert.Nil(t, MigrationsOf(counted.Files, 0))
	assert.Nil(t, MigrationsOf(counted.Files, 3))
}

func TestReadMigrations(t *testing.T) {
	ms, err := readMigrations(fstest.MapFS{
		"10_ten.sql":     {Data: []byte("ten")},
		"9_nine.sql":     {Data: []byte("nine")},
		"002_two.sql":    {Data: []byte("two")},
		"001_one.sql":    {Data: []byte("one")},
		"README.md":      {Data: []byte("skipped")},
		"dir.sql/x.sql":  {Data: []byte("a directory is skipped")},
		"sub/003_x.sql":  {Data: []byte("in a folder: ignored")},
		"003_three.SQL":  {Data: []byte("not .sql")},
		"004_four.sql~":  {Data: []byte("backup")},
		"005_five_a.sql": {Data: []byte("five")},
	})
	require.NoError(t, err)
	assert.Equal(t, []migration{{1, "one", "one"}, {2, "two", "two"}, {5, "five_a", "five"}, {9, "nine", "nine"}, {10, "ten", "ten"}}, ms)

	for _, name := range []string{"000_zero.sql", "x_one.sql", "one.sql", "first.sql", "-1_neg.sql", "001.sql"} {
		_, err := readMigrations(fstest.MapFS{name: {Data: []byte("x")}})
		require.ErrorContains(t, err, "name is not NNN_name.sql", name)
	}
	_, err = readMigrations(nil)
	require.Error(t, err)
	missing, err := fs.Sub(fstest.MapFS{"m/001_a.sql": {}}, "missing")
	require.NoError(t, err)
	_, err = readMigrations(missing)
	require.ErrorContains(t, err, "migrations: ")
}

// TestLockedCommitFails: a COMMIT refused (a deferred foreign key) is an
// error, and leaves no transaction open on the connection.
func TestLockedCommitFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		db := d.open(t)
		db.SetMaxOpenConns(1)
		ctx := t.Context()
		if d.dialect == SQLite {
			_, err := db.ExecContext(ctx, `PRAGMA foreign_keys = ON`)
			require.NoError(t, err)
		}
		for _, stmt := range []string{
			`CREATE TABLE parent (id integer PRIMARY KEY)`,
			`CREATE TABLE child (parent integer REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`,
		} {
			_, err := db.ExecContext(ctx, stmt)
			require.NoError(t, err, stmt)
		}
		err := Locked(ctx, db, d.dialect, counted.LockKey, func(tx Execer) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO child (parent) VALUES (7)`)
			return err
		})
		require.Error(t, err, "the deferred check fails at COMMIT")
		assert.Zero(t, count(t, d.open(t), "child"))
		_, err = db.ExecContext(ctx, `INSERT INTO parent (id) VALUES (7)`)
		require.NoError(t, err, "the connection is free again")
		assert.Equal(t, 1, count(t, d.open(t), "parent"), "committed: no transaction was left open")
	})
}

// TestMigrateGivesUpOnAHeldLock: Migrate waits out a write lock held by
// another connection, with backoff, and gives up after its attempts with
// the lock's error.
func TestMigrateGivesUpOnAHeldLock(t *testing.T) {
	dsn := testenv.SQLiteDSN(t, "_pragma=busy_timeout(1)&_pragma=journal_mode(WAL)")
	db := testenv.Open(t, "sqlite", dsn)
	holder, err := testenv.Open(t, "sqlite", dsn).Conn(t.Context())
	require.NoError(t, err)
	defer holder.Close()
	_, err = holder.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = Migrate(ctx, db, SQLite, counted)
	require.True(t, SQLite.Busy(err), "gives up with SQLITE_BUSY: %v", err)
	assert.GreaterOrEqual(t, time.Since(start), 75*time.Millisecond, "backoff 5+10+20+40ms")

	_, err = holder.ExecContext(t.Context(), `ROLLBACK`)
	require.NoError(t, err)
	require.NoError(t, Migrate(ctx, db, SQLite, counted))
}
