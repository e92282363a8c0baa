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
	"time"
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

// maxMigrateAttempts bounds the retries of a Migrate that met a concurrent
// one (SQLite has no advisory lock).
const maxMigrateAttempts = 5

// ErrNoBusyTimeout is returned by Migrate for a SQLite pool of several
// connections without a busy timeout, in which concurrent saves would fail
// with "database is locked" instead of waiting.
var ErrNoBusyTimeout = errors.New("sqlstore: SQLite needs a busy timeout: " +
	"open it with _pragma=busy_timeout(5000), or limit the pool to one connection")

// Migrations returns the SQL migrations of dialect d as files NNN_name.sql,
// for use with an external migration tool; nil for an unknown dialect.
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

// Migrate creates or updates the tables gcal_links and gcal_audit in the
// first schema of the search_path (PostgreSQL, with row level security that
// closes them to other roles) or in the main database (SQLite), applying in
// one transaction the embedded migrations not yet recorded in
// MigrationsTable. Calling it again, or from several instances at once, is
// safe.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.checkBusyTimeout(ctx); err != nil {
		return err
	}
	ms, err := readMigrations(migrationFiles, "migrations/"+s.dialect.String())
	if err != nil {
		return err
	}
	err = retry(ctx, maxMigrateAttempts, 5*time.Millisecond, s.retryable, func() error {
		return s.migrate(ctx, ms)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// retry calls fn up to attempts times while it fails with an error that
// retryable accepts, waiting wait, then twice as long, and so on, between
// attempts. It returns fn's last error, or ctx's if ctx ends first.
func retry(ctx context.Context, attempts int, wait time.Duration, retryable func(error) bool, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt >= attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// checkBusyTimeout refuses a SQLite pool that would fail concurrent writes.
func (s *Store) checkBusyTimeout(ctx context.Context) error {
	if s.dialect != SQLite || s.db.Stats().MaxOpenConnections == 1 {
		return nil
	}
	var ms int
	if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms); err != nil {
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

// migrate applies, in one transaction, the migrations of ms that the
// database has not recorded.
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
	ddl := `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + ` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at text NOT NULL)`
	record := `INSERT INTO ` + MigrationsTable + ` (version, name, applied_at) VALUES ($1, $2, $3)`
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return err
		}
	} else {
		record = strings.ReplaceAll(record, "$", "?")
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("%03d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, record, m.version, m.name, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
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

// readMigrations returns the migrations NNN_name.sql in dir of fsys, in
// version order.
func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
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
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// retryable reports whether err is a conflict with a concurrent
// transaction, worth trying again.
func (s *Store) retryable(err error) bool {
	var pgErr interface{ SQLState() string }
	if s.dialect == Postgres && errors.As(err, &pgErr) {
		switch pgErr.SQLState() {
		case "40001", "40P01", "23505": // serialization failure, deadlock, unique violation
			return true
		}
	}
	var liteErr interface{ Code() int }
	if s.dialect == SQLite && errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED and their extended codes
			return true
		}
	}
	return false
}
