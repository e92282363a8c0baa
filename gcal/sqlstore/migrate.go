package sqlstore

import (
	"context"
	"embed"
	"io/fs"

	"github.com/voxanne/resilience/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// MigrationsTable is the table in which Migrate records the versions it has
// applied; its name is specific to this package so that other packages'
// migrations can share the schema.
const MigrationsTable = "gcal_schema_migrations"

// migrateLockKey is the PostgreSQL advisory lock taken by Migrate, so that
// instances starting together apply each migration once.
const migrateLockKey = 0x6763_616c_6c6e_6b73 // "gcallnks"

// ErrNoBusyTimeout is returned by Migrate for a SQLite pool of several
// connections without a busy timeout, in which concurrent saves would fail
// with "database is locked" instead of waiting.
var ErrNoBusyTimeout = sqldb.ErrNoBusyTimeout

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool; nil for an unknown dialect.
func Migrations(d Dialect) fs.FS { return sqldb.MigrationsOf(migrationFiles, sqldb.Dialect(d)) }

// Migrate creates or updates the tables gcal_links and gcal_audit in the
// first schema of the search_path (PostgreSQL, with row level security that
// closes them to other roles) or in the main database (SQLite), applying in
// one transaction the embedded migrations not yet recorded in
// MigrationsTable. Calling it again, or from several instances at once, is
// safe.
func (s *Store) Migrate(ctx context.Context) error {
	return sqldb.Migrate(ctx, s.db, s.dialect, sqldb.Migrations{
		Files:         migrationFiles,
		Table:         MigrationsTable,
		LockKey:       migrateLockKey,
		AppliedAtText: true, // as this package first created MigrationsTable
		SQLiteParams:  "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
	})
}
