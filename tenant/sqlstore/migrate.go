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
// applied. Its name is specific to this package so that other packages'
// migrations can share the schema.
const MigrationsTable = "tenant_schema_migrations"

// migrateLockKey is the PostgreSQL advisory lock taken by Migrate, so that
// instances starting together apply each migration once.
const migrateLockKey = 0x7465_6e61_6e74 // "tenant"

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool: those Migrate applies. The
// optional Supabase signup trigger is not one of them (see
// SupabaseSignupTrigger). It returns nil for an unknown dialect.
func Migrations(d Dialect) fs.FS { return sqldb.MigrationsOf(migrationFiles, sqldb.Dialect(d)) }

// Migrate creates or updates the tables organizations, profiles and audit_log
// in the first schema of the connection's search_path (PostgreSQL, with row
// level security that closes them to other roles) or in the main database
// (SQLite). It applies, in one transaction, the embedded
// migrations not yet recorded in MigrationsTable, so calling it again, or
// from several instances at once, is safe. It does not install the Supabase
// signup trigger: see InstallSignupTrigger. On a SQLite pool without
// busy_timeout it fails with ErrSQLiteBusyTimeout.
func (s *Store) Migrate(ctx context.Context) error {
	return sqldb.Migrate(ctx, s.db, s.dialect, sqldb.Migrations{
		Files:        migrationFiles,
		Table:        MigrationsTable,
		LockKey:      migrateLockKey,
		SQLiteParams: SQLiteDSNParams,
	})
}
