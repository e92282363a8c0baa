package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
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
var ErrNoBusyTimeout = errors.New("sqlstore: SQLite busy_timeout is 0; open the database with " +
	"_pragma=busy_timeout(5000) (or limit the pool to one connection)")

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool, or nil for an unknown dialect.
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

// Migrate creates or updates the tables sms_deliveries and sms_audit, in
// the first schema of the search_path (PostgreSQL, with row level security
// enabled and no policy, which closes them to every role but their owner)
// or in the main database (SQLite). It applies, in one transaction, the
// embedded migrations not yet recorded in MigrationsTable: calling it
// again, or from several instances at once, is safe.
func (s *Store) Migrate(ctx context.Context) error {
	if s.dialect == SQLite {
		if err := s.checkBusyTimeout(ctx); err != nil {
			return err
		}
	}
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	if err := s.retry(ctx, func() error { return s.migrate(ctx, ms) }); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// checkBusyTimeout refuses a pooled SQLite database without busy_timeout.
func (s *Store) checkBusyTimeout(ctx context.Context) error {
	if s.db.Stats().MaxOpenConnections == 1 {
		return nil
	}
	var ms int
	err := s.retry(ctx, func() error { // a new connection may meet another switching to WAL
		return s.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&ms)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	if ms <= 0 {
		return ErrNoBusyTimeout
	}
	return nil
}

// migration is one embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// execer is what migrate needs of a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// migrate applies, in one transaction, the migrations the database has not
// recorded: on PostgreSQL under an advisory lock; on SQLite in a BEGIN
// IMMEDIATE transaction, which takes the write lock first (waiting under
// busy_timeout), so that concurrent migrations queue instead of failing
// when a read lock cannot be upgraded.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	if s.dialect == Postgres {
		return s.migratePostgres(ctx, ms)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := s.apply(ctx, conn, ms); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}

func (s *Store) migratePostgres(ctx context.Context, ms []migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := s.apply(ctx, tx, ms); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// apply runs, within tx, the migrations not recorded in MigrationsTable.
func (s *Store) apply(ctx context.Context, tx execer, ms []migration) error {
	ts, insert := "timestamptz NOT NULL DEFAULT now()", `INSERT INTO `+MigrationsTable+` (version, name) VALUES ($1, $2)`
	if s.dialect == SQLite {
		ts = "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
		insert = strings.ReplaceAll(insert, "$", "?")
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
		version integer PRIMARY KEY, name text NOT NULL, applied_at `+ts+`)`); err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
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
	return nil
}

func appliedVersions(ctx context.Context, tx execer) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+MigrationsTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := make(map[int]bool)
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// migrations returns the dialect's migrations in version order.
func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + s.dialect.String()
	entries, err := migrationFiles.ReadDir(dir)
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
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}
