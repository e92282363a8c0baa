package sqldb

import (
	"context"
	"database/sql"
)

// Execer is what a migration needs of its transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Locked runs fn in one transaction that holds the migration lock of d,
// and commits it if fn returns nil, or rolls it back. The lock is, on
// PostgreSQL, the advisory lock key (pg_advisory_xact_lock); on SQLite the
// database's write lock, taken first with BEGIN IMMEDIATE (waiting under
// busy_timeout), so that concurrent migrations queue instead of failing
// when a read lock cannot be upgraded.
func Locked(ctx context.Context, db *sql.DB, d Dialect, key int64, fn func(tx Execer) error) error {
	if d == Postgres {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(conn); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}
