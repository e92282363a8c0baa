package sqlstore_test

import (
	"database/sql"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

func TestMigrateIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s, err := sqlstore.New(db)
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()))

		org, err := s.Provision(t.Context(), tenant.Info{UserID: "u"})
		require.NoError(t, err)

		require.NoError(t, s.Migrate(t.Context()), "second Migrate")
		got, err := s.OrgForUser(t.Context(), "u")
		require.NoError(t, err)
		assert.Equal(t, org, got, "data survives a second Migrate")

		assert.Equal(t, 1, count(t, db, sqlstore.MigrationsTable))
		for _, table := range []string{"organizations", "profiles", "audit_log"} {
			count(t, db, table) // exists
		}
	})
}

func TestMigrateConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				s, err := sqlstore.New(db)
				if assert.NoError(t, err) {
					assert.NoError(t, s.Migrate(t.Context()))
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, count(t, db, sqlstore.MigrationsTable))
	})
}

func TestMigrations(t *testing.T) {
	tests := []struct {
		dialect sqlstore.Dialect
		want    []string
	}{
		{sqlstore.SQLite, []string{"001_init.sql"}},
		{sqlstore.Postgres, []string{"001_init.sql", "002_auto_org_on_signup.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			names, err := fs.Glob(sqlstore.Migrations(tt.dialect), "*.sql")
			require.NoError(t, err)
			assert.Equal(t, tt.want, names)
		})
	}
	assert.Nil(t, sqlstore.Migrations(sqlstore.Dialect(0)))
}

// TestMigrateConflictingTable: a foreign table named profiles makes Migrate
// fail as a whole, leaving nothing half-made.
func TestMigrateConflictingTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		_, err := db.ExecContext(t.Context(), `CREATE TABLE profiles (id text PRIMARY KEY, username text)`)
		require.NoError(t, err)
		s, err := sqlstore.New(db)
		require.NoError(t, err)

		err = s.Migrate(t.Context())
		require.ErrorContains(t, err, "001_init")

		var n int
		err = db.QueryRowContext(t.Context(), `SELECT count(*) FROM organizations`).Scan(&n)
		assert.Error(t, err, "organizations was rolled back")
	})
}
