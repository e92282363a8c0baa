package sqlstore_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/voxanne/resilience/internal/testenv"
	"github.com/voxanne/resilience/twilioguard/sqlstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// forEachDB runs fn as the subtests "sqlite" and "postgres", each on a
// fresh, empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sql.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, testenv.SQLite(t, "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")) })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresDB(t)) })
}

// newStore returns a migrated Store on db.
func newStore(t *testing.T, db *sql.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}
