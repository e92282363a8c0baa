package sqlstore_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/twilioguard/sqlstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// forEachDB runs fn as the subtests "sqlite" and "postgres", each on a
// fresh, empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sql.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t, "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

// openSQLite opens a new SQLite file under t.TempDir with the DSN options.
func openSQLite(t *testing.T, options string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "sms.db")+options)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openPostgres connects to RESILIENCE_TEST_POSTGRES_URL with a search_path
// of a new schema, dropped when the test ends. Without the variable it
// skips, or fails under RESILIENCE_TEST_REQUIRE_SERVERS=1.
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	base := os.Getenv("RESILIENCE_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("RESILIENCE_TEST_REQUIRE_SERVERS") == "1" {
			t.Fatal("RESILIENCE_TEST_POSTGRES_URL is unset and RESILIENCE_TEST_REQUIRE_SERVERS=1")
		}
		t.Skip("set RESILIENCE_TEST_POSTGRES_URL to run against PostgreSQL")
	}
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "sms_" + hex.EncodeToString(b)
	_, err = admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	require.NoError(t, err)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(10)
	t.Cleanup(func() { _ = db.Close() }) // before the schema is dropped
	return db
}

// newStore returns a migrated Store on db.
func newStore(t *testing.T, db *sql.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}
