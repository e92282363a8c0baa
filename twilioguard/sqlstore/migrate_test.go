package sqlstore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/internal/testenv"
	"github.com/voxanne/resilience/twilioguard/sqlstore"
)

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s, err := sqlstore.New(db)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { assert.NoError(t, s.Migrate(t.Context())) })
		}
		wg.Wait()
		require.NoError(t, s.Migrate(t.Context()))
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+sqlstore.MigrationsTable).Scan(&n))
		assert.Equal(t, 1, n)
		for _, table := range []string{"sms_deliveries", "sms_audit"} {
			require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n), table)
		}
	})
}

func TestPostgresTablesAreClosedByRowLevelSecurity(t *testing.T) {
	db := testenv.PostgresDB(t)
	newStore(t, db)
	for _, table := range []string{"sms_deliveries", "sms_audit"} {
		var rls bool
		require.NoError(t, db.QueryRowContext(t.Context(),
			`SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&rls))
		assert.True(t, rls, table)
	}
}

func TestMigrateRequiresBusyTimeoutForPooledSQLite(t *testing.T) {
	db := testenv.SQLite(t, "")
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	assert.ErrorIs(t, s.Migrate(t.Context()), sqlstore.ErrNoBusyTimeout)

	db.SetMaxOpenConns(1) // one connection never waits for another
	require.NoError(t, s.Migrate(t.Context()))

	ok := testenv.SQLite(t, "_pragma=busy_timeout(1000)")
	s, err = sqlstore.New(ok)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
}

func TestMigrationsExposesTheSQL(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		names, err := fs.Glob(sqlstore.Migrations(d), "*.sql")
		require.NoError(t, err)
		assert.Equal(t, []string{"001_deliveries.sql"}, names)
	}
	assert.Nil(t, sqlstore.Migrations(0))
}

// A migration that fails is rolled back and leaves its connection usable:
// with a pool of one, the next Migrate can run.
func TestFailedMigrationRollsBack(t *testing.T) {
	db := testenv.PostgresDB(t)
	db.SetMaxOpenConns(1)
	_, err := db.ExecContext(t.Context(), "CREATE VIEW sms_audit AS SELECT 1 AS id") // in the way of an index
	require.NoError(t, err)
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	require.Error(t, s.Migrate(t.Context()))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, "DROP VIEW sms_audit")
	require.NoError(t, err, "the connection is free again")
	require.NoError(t, s.Migrate(ctx))
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM sms_deliveries").Scan(&n))
}
