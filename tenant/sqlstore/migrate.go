package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
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

// maxMigrateAttempts bounds the retries of a Migrate that met a concurrent one.
const maxMigrateAttempts = 5

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool: those Migrate applies. The
// optional Supabase signup trigger is not one of them (see
// SupabaseSignupTrigger). It returns nil for an unknown dialect.
func Migrations(d Dialect) fs.FS {
	if d != Postgres && d != SQLite {
		return nil
	}
	sub, err := fs.Sub(migrationFiles, "migrations/"+d.String())
	if err != nil {
		return nil
	}
	return sub
}

// migration is one embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrate creates or updates the tables organizations, profiles and audit_log
// in the first schema of the connection's search_path (PostgreSQL, with row
// level security that closes them to other roles) or in the main database
// (SQLite). It applies, in one transaction, the embedded
// migrations not yet recorded in MigrationsTable, so calling it again, or
// from several instances at once, is safe. It does not install the Supabase
// signup trigger: see InstallSignupTrigger. On a SQLite pool without
// busy_timeout it fails with ErrSQLiteBusyTimeout.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.checkConn(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = s.migrate(ctx, ms)
		if err == nil {
			return nil
		}
		if !s.retryable(err) || attempt == maxMigrateAttempts {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if err := sleep(ctx, backoff); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		backoff *= 2
	}
}

// migrate applies the migrations of ms that the database has not recorded.
func (s *Store) migrate(ctx context.Context, ms []migration) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	createTable := `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + ` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`
	insert := `INSERT INTO ` + MigrationsTable + ` (version, name) VALUES ($1, $2)`
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return err
		}
	} else {
		createTable = `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + ` (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`
		insert = `INSERT INTO ` + MigrationsTable + ` (version, name) VALUES (?1, ?2)`
	}
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return err
	}

	applied := make(map[int]bool)
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+MigrationsTable)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}

	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("%03d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, insert, m.version, m.name); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// migrations returns the dialect's migrations in version order.
func (s *Store) migrations() ([]migration, error) {
	return readMigrations(Migrations(s.dialect))
}

// readMigrations reads the files NNN_name.sql of fsys (NNN > 0) in version
// order; other files are skipped.
func readMigrations(fsys fs.FS) ([]migration, error) {
	if fsys == nil {
		return nil, errors.New("sqlstore: migrations: none for this dialect")
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %s: name is not NNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}
