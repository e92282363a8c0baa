package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

// lockedSQLite returns a store on a SQLite file whose connections wait 1ms
// for a lock, and a function that takes the database's write lock from
// another connection until the returned release is called.
func lockedSQLite(t *testing.T, migrate bool) (*sqlstore.Store, *sql.DB, func() (release func())) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "locked.db")
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(1)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	if migrate {
		require.NoError(t, s.Migrate(t.Context()))
	}
	other, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	lock := func() func() {
		conn, err := other.Conn(t.Context())
		require.NoError(t, err)
		_, err = conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
		require.NoError(t, err)
		return func() {
			_, err := conn.ExecContext(context.Background(), `ROLLBACK`)
			assert.NoError(t, err)
			assert.NoError(t, conn.Close())
		}
	}
	return s, db, lock
}

// isBusy reports whether err is SQLite's SQLITE_BUSY.
func isBusy(err error) bool {
	var lite interface{ Code() int }
	return errors.As(err, &lite) && lite.Code()&0xff == 5
}

// TestMigrateRetriesAHeldLock: Migrate waits out a write lock held by
// another connection, with backoff, and gives up after its attempts.
func TestMigrateRetriesAHeldLock(t *testing.T) {
	t.Run("released", func(t *testing.T) {
		s, _, lock := lockedSQLite(t, false)
		release := lock()
		time.AfterFunc(20*time.Millisecond, release)
		require.NoError(t, s.Migrate(t.Context()))
	})
	t.Run("held", func(t *testing.T) {
		s, _, lock := lockedSQLite(t, false)
		defer lock()()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := s.Migrate(ctx)
		require.True(t, isBusy(err), "gives up with SQLITE_BUSY: %v", err)
		assert.GreaterOrEqual(t, time.Since(start), 75*time.Millisecond, "backoff 5+10+20+40ms")
	})
}

// TestProvisionRetriesAHeldLock: Provision gives up after its attempts,
// having backed off between them.
func TestProvisionRetriesAHeldLock(t *testing.T) {
	s, _, lock := lockedSQLite(t, true)
	defer lock()()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Provision(ctx, tenant.Info{UserID: "u"})
	require.True(t, isBusy(err), "gives up with SQLITE_BUSY: %v", err)
	assert.GreaterOrEqual(t, time.Since(start), 113*time.Millisecond, "backoff 1+2+4+8+16+32+50ms")
}

// TestFailedTransactionsAreRolledBack: on a pool of one connection, a
// failed Migrate or Provision gives its connection back.
func TestFailedTransactionsAreRolledBack(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "one.db"))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	_, err = db.ExecContext(ctx, `CREATE TABLE profiles (id text PRIMARY KEY)`)
	require.NoError(t, err)
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	require.Error(t, s.Migrate(ctx))
	_, err = db.ExecContext(ctx, `DROP TABLE profiles`)
	require.NoError(t, err, "the connection is free again")
	require.NoError(t, s.Migrate(ctx))

	_, err = db.ExecContext(ctx, `DROP TABLE audit_log`)
	require.NoError(t, err)
	_, err = s.Provision(ctx, tenant.Info{UserID: "u"})
	require.ErrorContains(t, err, "audit_log")
	_, err = s.OrgForUser(ctx, "u")
	require.ErrorIs(t, err, tenant.ErrNoOrg, "the profile was rolled back, and the connection is free")
}
