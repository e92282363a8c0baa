package sqlstore

import (
	"context"
	"embed"
	"io/fs"

	"github.com/voxanne/resilience/internal/sqldb"
)

// migrationFiles holds migrations/<dialect>/NNN_name.sql.
//
//go:embed migrations
var migrationFiles embed.FS

// MigrationsTable is the table in which Migrate records the versions it has
// applied, named for this package so that other packages' migrations can
// share the schema.
const MigrationsTable = "twilioguard_schema_migrations"

// migrateLockKey is the PostgreSQL advisory lock Migrate holds, so that
// instances starting together apply each migration once.
const migrateLockKey = 0x7477_696c_696f // "twilio"

// ErrNoBusyTimeout is returned by Migrate for a SQLite database that more
// than one connection may use at once and that was opened without a busy
// timeout: concurrent Sends would fail with SQLITE_BUSY instead of waiting.
var ErrNoBusyTimeout = sqldb.ErrNoBusyTimeout

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool, or nil for an unknown dialect.
func Migrations(d Dialect) fs.FS { return sqldb.MigrationsOf(migrationFiles, sqldb.Dialect(d)) }

// Migrate creates or updates the tables sms_deliveries and sms_audit, in
// the first schema of the search_path (PostgreSQL, with row level security
// enabled and no policy, which closes them to every role but their owner)
// or in the main database (SQLite). It applies, in one transaction, the
// embedded migrations not yet recorded in MigrationsTable: calling it
// again, or from several instances at once, is safe.
func (s *Store) Migrate(ctx context.Context) error {
	return sqldb.Migrate(ctx, s.db, s.dialect, sqldb.Migrations{
		Files:        migrationFiles,
		Table:        MigrationsTable,
		LockKey:      migrateLockKey,
		SQLiteParams: "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
	})
}
