// Package store keeps the reference server's own records on PostgreSQL or
// SQLite: clinic profiles, appointments (with the fingerprint of the request
// that made each, so that a reused Idempotency-Key is caught), the outbox of
// texts to send, and the audit of operators' actions. The vendor packages
// keep theirs (calendar links, deliveries, organisations) in the same
// database through their own sqlstore packages.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/voxanne/resilience/internal/sqldb"
)

// Dialect is the SQL database a Store talks to: the stores' shared one,
// since the server's own Store has no public API to keep apart.
type Dialect = sqldb.Dialect

// The dialects.
const (
	Postgres = sqldb.Postgres
	SQLite   = sqldb.SQLite
)

// Errors of the Store.
var (
	// ErrNotFound: no such record.
	ErrNotFound = errors.New("store: not found")
	// ErrSlotTaken: another appointment of the clinic holds that start time.
	ErrSlotTaken = errors.New("store: slot taken by another appointment")
	// ErrConflict: the record changed since it was read.
	ErrConflict = errors.New("store: record changed concurrently")
)

// Store is the server's records on one database. It is safe for concurrent
// use, across processes too.
type Store struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time
}

// New returns a Store on db, which speaks dialect; now is the clock (nil:
// time.Now). Call Migrate before the first use.
func New(db *sql.DB, dialect Dialect, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, dialect: dialect, now: now}
}

// DB returns the database.
func (s *Store) DB() *sql.DB { return s.db }

// q writes a statement with $n placeholders in the Store's dialect.
func (s *Store) q(query string) string { return s.dialect.Rebind(query) }

// ms is how times are stored: Unix milliseconds, the same in both dialects.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// unique reports whether err is a violated unique constraint.
func (s *Store) unique(err error) bool { return s.dialect.UniqueViolation(err) }

// retry runs fn again while it fails with a lock conflict (SQLITE_BUSY
// beyond busy_timeout, a PostgreSQL deadlock), a few times.
func (s *Store) retry(ctx context.Context, fn func() error) error { return s.dialect.Retry(ctx, fn) }

// migrateLockKey serialises Migrate across instances on PostgreSQL.
const migrateLockKey = 0x7365727665720001 // "server" + 1

// Migrate creates the tables, idempotently, in one transaction;
// instances may run it at once.
func (s *Store) Migrate(ctx context.Context) error {
	return sqldb.Locked(ctx, s.db, s.dialect, migrateLockKey, func(tx sqldb.Execer) error {
		return s.createTables(ctx, tx)
	})
}

// createTables creates what is missing of the tables.
func (s *Store) createTables(ctx context.Context, tx sqldb.Execer) error {
	serial := "BIGSERIAL PRIMARY KEY"
	if s.dialect == SQLite {
		serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS server_clinics (
			org_id     TEXT   PRIMARY KEY,
			name       TEXT   NOT NULL DEFAULT '',
			phone      TEXT   NOT NULL DEFAULT '',
			time_zone  TEXT   NOT NULL DEFAULT 'UTC',
			sms_from   TEXT   NOT NULL DEFAULT '',
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS server_appointments (
			org_id      TEXT    NOT NULL,
			idem_key    TEXT    NOT NULL,
			fingerprint TEXT    NOT NULL,
			status      TEXT    NOT NULL,
			start_at    BIGINT  NOT NULL,
			end_at      BIGINT  NOT NULL,
			patient     TEXT    NOT NULL,
			phone       TEXT    NOT NULL DEFAULT '',
			event_id    TEXT    NOT NULL DEFAULT '',
			attempted   INTEGER NOT NULL DEFAULT 0,
			created_at  BIGINT  NOT NULL,
			updated_at  BIGINT  NOT NULL,
			PRIMARY KEY (org_id, idem_key)
		)`,
		// Two live appointments of a clinic never share a start time.
		`CREATE UNIQUE INDEX IF NOT EXISTS server_appointments_slot
			ON server_appointments (org_id, start_at) WHERE status IN ('pending', 'booked')`,
		// The cancellations the calendar has not confirmed, for the server
		// to finish.
		`CREATE INDEX IF NOT EXISTS server_appointments_cancelling
			ON server_appointments (updated_at) WHERE status = 'cancelling'`,
		`CREATE TABLE IF NOT EXISTS server_texts (
			org_id       TEXT    NOT NULL,
			msg_key      TEXT    NOT NULL,
			kind         TEXT    NOT NULL,
			to_number    TEXT    NOT NULL,
			from_number  TEXT    NOT NULL DEFAULT '',
			body         TEXT    NOT NULL,
			fingerprint  TEXT    NOT NULL DEFAULT '',
			state        TEXT    NOT NULL,
			attempts     INTEGER NOT NULL DEFAULT 0,
			next_attempt BIGINT  NOT NULL DEFAULT 0,
			created_at   BIGINT  NOT NULL,
			updated_at   BIGINT  NOT NULL,
			PRIMARY KEY (org_id, msg_key)
		)`,
		`CREATE INDEX IF NOT EXISTS server_texts_due ON server_texts (state, next_attempt)`,
		`CREATE INDEX IF NOT EXISTS server_texts_recent ON server_texts (created_at)`,
		`CREATE TABLE IF NOT EXISTS server_admin_audit (
			id     ` + serial + `,
			at     BIGINT NOT NULL,
			actor  TEXT   NOT NULL,
			action TEXT   NOT NULL,
			vendor TEXT   NOT NULL DEFAULT '',
			org_id TEXT   NOT NULL DEFAULT '',
			detail TEXT   NOT NULL DEFAULT ''
		)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	return nil
}
