package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migrations are a store's embedded migrations and where Migrate records
// them.
type Migrations struct {
	// Files holds migrations/<dialect>/NNN_name.sql, as `//go:embed
	// migrations` gives them.
	Files fs.FS
	// Table records the versions applied; one table per store, so that
	// stores can share a schema.
	Table string
	// LockKey is the PostgreSQL advisory lock Migrate holds.
	LockKey int64
	// AppliedAtText, when set, makes Table's applied_at column text that
	// Migrate writes (RFC 3339, UTC, seconds) instead of a timestamp the
	// database fills in.
	AppliedAtText bool
	// SQLiteParams are the DSN parameters that ErrNoBusyTimeout's message
	// advises.
	SQLiteParams string
}

// maxMigrateAttempts bounds the attempts of a Migrate that met a
// concurrent one.
const maxMigrateAttempts = 5

// MigrationsOf returns the folder migrations/<d> of files, or nil for an
// unknown dialect.
func MigrationsOf(files fs.FS, d Dialect) fs.FS {
	if d != Postgres && d != SQLite {
		return nil
	}
	sub, _ := fs.Sub(files, "migrations/"+d.String()) // a valid path: no error
	return sub
}

// Migrate applies, in one transaction held under Locked, the migrations of
// m for dialect d that m.Table does not record, in version order, and
// records them. A migration that fails rolls back all of them; its error
// names it (NNN_name). Migrate that meets a concurrent transaction tries
// again, a few times. On SQLite it first refuses a pool without
// busy_timeout (CheckBusyTimeout). Its errors read "sqlstore: migrate: ...".
func Migrate(ctx context.Context, db *sql.DB, d Dialect, m Migrations) error {
	if err := migrate(ctx, db, d, m); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB, d Dialect, m Migrations) error {
	if d == SQLite {
		if err := CheckBusyTimeout(ctx, db, m.SQLiteParams); err != nil {
			return err
		}
	}
	ms, err := readMigrations(MigrationsOf(m.Files, d))
	if err != nil {
		return err
	}
	retry := backoff{attempts: maxMigrateAttempts, wait: 5 * time.Millisecond, retryable: d.Conflict, ctxErr: true}
	return retry.do(ctx, func() error {
		return Locked(ctx, db, d, m.LockKey, func(tx Execer) error { return m.apply(ctx, tx, d, ms) })
	})
}

// apply runs, within tx, the migrations of ms not recorded in m.Table.
func (m Migrations) apply(ctx context.Context, tx Execer, d Dialect, ms []migration) error {
	appliedAt := "timestamptz NOT NULL DEFAULT now()"
	if d == SQLite {
		appliedAt = "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
	}
	record := `INSERT INTO ` + m.Table + ` (version, name) VALUES ($1, $2)`
	var args []any
	if m.AppliedAtText {
		appliedAt = "text NOT NULL"
		record = `INSERT INTO ` + m.Table + ` (version, name, applied_at) VALUES ($1, $2, $3)`
		args = []any{time.Now().UTC().Format(time.RFC3339)}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+m.Table+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at `+appliedAt+`)`); err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, tx, m.Table)
	if err != nil {
		return err
	}
	for _, mg := range ms {
		if applied[mg.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, mg.sql); err != nil {
			return fmt.Errorf("%03d_%s: %w", mg.version, mg.name, err)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind(record), append([]any{mg.version, mg.name}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, tx Execer, table string) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+table)
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

// migration is one SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// readMigrations reads the files NNN_name.sql of fsys (NNN > 0) in version
// order; other files and folders are skipped.
func readMigrations(fsys fs.FS) ([]migration, error) {
	if fsys == nil {
		return nil, errors.New("migrations: none for this dialect")
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}
