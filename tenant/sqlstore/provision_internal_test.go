package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/tenant"
)

// TestProvisionTx: one transaction either links the user and commits, or
// finds the user linked meanwhile and rolls back; either way the
// connection goes back to the pool (of one, here).
func TestProvisionTx(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tx.db")+"?_pragma=foreign_keys(1)")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := New(db)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Migrate(ctx))

	org, err := s.provisionTx(ctx, tenant.Info{UserID: "u"})
	require.NoError(t, err)
	require.NotEmpty(t, org, "committed")
	got, err := s.OrgForUser(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, org, got)

	// A concurrent provision linked the user first: this one rolls back.
	again, err := s.provisionTx(ctx, tenant.Info{UserID: "u"})
	require.NoError(t, err)
	assert.Empty(t, again)
	var orgs int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM organizations`).Scan(&orgs))
	assert.Equal(t, 1, orgs, "the losing organisation was rolled back, and the connection is free")
}
