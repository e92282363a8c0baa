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
	"strings"
	"time"
)

// Dialect is the SQL database a Store talks to.
type Dialect uint8

// The dialects.
const (
	Postgres Dialect = iota + 1
	SQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

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
func (s *Store) q(query string) string {
	if s.dialect == SQLite {
		return strings.ReplaceAll(query, "$", "?")
	}
	return query
}

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
func (s *Store) unique(err error) bool {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState() == "23505"
	}
	var liteErr interface{ Code() int }
	if errors.As(err, &liteErr) {
		return liteErr.Code() == 2067 || liteErr.Code() == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	return false
}

// retry runs fn again while it fails with a lock conflict (SQLITE_BUSY
// beyond busy_timeout, a PostgreSQL deadlock), a few times.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	wait := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !s.busy(err) || attempt == 5 {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

func (s *Store) busy(err error) bool {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		switch pgErr.SQLState() {
		case "40001", "40P01":
			return true
		}
	}
	var liteErr interface{ Code() int }
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return false
}

// migrateLockKey serialises Migrate across instances on PostgreSQL.
const migrateLockKey = 0x7365727665720001 // "server" + 1

// Migrate creates the tables, idempotently; instances may run it at once.
func (s *Store) Migrate(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return err
		}
	}
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
	return tx.Commit()
}
