package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNoBusyTimeout is returned, wrapped, by CheckBusyTimeout for a SQLite
// pool of more than one connection opened without busy_timeout.
var ErrNoBusyTimeout = errors.New("SQLite connections without busy_timeout")

// CheckBusyTimeout returns an error wrapping ErrNoBusyTimeout when db, a
// SQLite pool that may hold more than one connection, was opened without
// busy_timeout: its concurrent writers would fail with SQLITE_BUSY instead
// of waiting for each other. The error advises opening the database with
// "file:app.db?"+params. A pool limited to one connection passes.
func CheckBusyTimeout(ctx context.Context, db *sql.DB, params string) error {
	if db.Stats().MaxOpenConnections == 1 {
		return nil
	}
	var ms int64
	err := SQLite.Retry(ctx, func() error { // a new connection may meet another switching to WAL
		return db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms)
	})
	if err != nil {
		return err
	}
	if ms <= 0 {
		return fmt.Errorf("%w: concurrent writers would fail with SQLITE_BUSY; open the database "+
			"with \"file:app.db?%s\" (modernc.org/sqlite), or limit the pool to one connection",
			ErrNoBusyTimeout, params)
	}
	return nil
}
