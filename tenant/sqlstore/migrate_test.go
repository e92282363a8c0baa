package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
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
		{sqlstore.Postgres, []string{"001_init.sql"}},
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

// TestMigrationsHoldOnlyWhatMigrateApplies: the Supabase trigger was stored
// as migration 002, listed by Migrations but skipped by Migrate, so an
// external migration tool applied what Migrate never does.
func TestMigrationsHoldOnlyWhatMigrateApplies(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		names, err := fs.Glob(sqlstore.Migrations(s.Dialect()), "*.sql")
		require.NoError(t, err)
		var applied []string
		rows, err := db.QueryContext(t.Context(), `SELECT version, name FROM `+sqlstore.MigrationsTable+` ORDER BY version`)
		require.NoError(t, err)
		for rows.Next() {
			var v int
			var name string
			require.NoError(t, rows.Scan(&v, &name))
			applied = append(applied, fmt.Sprintf("%03d_%s.sql", v, name))
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, names, applied)
	})
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

// TestPostgresTablesClosedToOtherRoles: Supabase's default privileges grant
// every new table in public to its REST API roles (anon, authenticated).
// The store's tables must stay closed to such roles, or any user could read
// every profile, or link themselves to another organisation, over the API.
func TestPostgresTablesClosedToOtherRoles(t *testing.T) {
	pg := openPostgres(t)
	ctx := t.Context()
	api := pg.schema + "_api"
	for _, stmt := range []string{
		`CREATE ROLE ` + api + ` NOLOGIN`,
		`GRANT USAGE ON SCHEMA ` + pg.schema + ` TO ` + api,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + pg.schema + ` GRANT ALL ON TABLES TO ` + api,
	} {
		_, err := pg.db.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() { // before the schema is dropped
		_, err := pg.db.ExecContext(context.Background(), `DROP OWNED BY `+api+`; DROP ROLE `+api)
		assert.NoError(t, err)
	})
	store := newStore(t, pg.db)
	victim, err := store.Provision(ctx, tenant.Info{UserID: "victim", Email: "victim@clinic.com"})
	require.NoError(t, err)

	conn, err := pg.db.Conn(ctx)
	require.NoError(t, err)
	defer func() {
		_, err := conn.ExecContext(context.Background(), `RESET ROLE`) // before the pool reuses it
		assert.NoError(t, err)
		assert.NoError(t, conn.Close())
	}()
	_, err = conn.ExecContext(ctx, `SET ROLE `+api)
	require.NoError(t, err)
	for _, table := range []string{"organizations", "profiles", "audit_log"} {
		var n int
		require.NoError(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		assert.Zero(t, n, "%s is readable", table)
	}
	_, err = conn.ExecContext(ctx, `UPDATE profiles SET user_id = 'attacker' WHERE user_id = 'victim'`)
	require.NoError(t, err, "no row is visible to update")
	_, err = conn.ExecContext(ctx, `INSERT INTO profiles (user_id, org_id) VALUES ('intruder', $1)`, victim)
	assert.Error(t, err, "profiles is writable")

	for _, user := range []string{"attacker", "intruder"} {
		_, err = store.OrgForUser(ctx, user)
		assert.ErrorIs(t, err, tenant.ErrNoOrg, user)
	}
	got, err := store.OrgForUser(ctx, "victim")
	require.NoError(t, err)
	assert.Equal(t, victim, got)
}
