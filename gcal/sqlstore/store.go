package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/internal/sqldb"
	"github.com/voxanne/resilience/safecall"
)

// Compile-time checks that Store is what gcal consumes.
var (
	_ gcal.TokenStore = (*Store)(nil)
	_ gcal.AuditSink  = (*Store)(nil)
)

// Dialect is the SQL database a Store talks to.
type Dialect uint8

const (
	// Postgres is PostgreSQL 13 or later, Supabase included. Tested with
	// github.com/jackc/pgx/v5/stdlib.
	Postgres Dialect = iota + 1
	// SQLite is SQLite 3.35 or later. Tested with modernc.org/sqlite.
	SQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string { return sqldb.Dialect(d).String() }

// ErrUnknownDialect is returned by New when the dialect cannot be told from
// the driver and WithDialect was not given.
var ErrUnknownDialect = sqldb.ErrUnknownDialect

// Option configures a Store.
type Option func(*config)

type config struct {
	dialect  Dialect
	previous []Key
}

// WithDialect sets the dialect instead of detecting it from the driver;
// needed when the *sql.DB comes from a wrapping driver (tracing, metrics).
func WithDialect(d Dialect) Option { return func(c *config) { c.dialect = d } }

// WithPreviousKeys adds keys that rows written before a key rotation may be
// encrypted under: read, never written. Reencrypt moves those rows to the
// current key.
func WithPreviousKeys(keys ...Key) Option {
	return func(c *config) { c.previous = append(c.previous, keys...) }
}

// Store keeps gcal links in the table gcal_links, their tokens encrypted
// with AES-256-GCM, and audit entries in gcal_audit, on PostgreSQL or
// SQLite. It implements gcal.TokenStore and gcal.AuditSink. A Store is safe
// for concurrent use, across processes too; it holds no connection of its
// own beyond the *sql.DB it was given.
type Store struct {
	db      *sql.DB
	dialect sqldb.Dialect
	keys    *keyring
	q       queries
}

// New returns a Store on db that encrypts tokens with key and decrypts them
// with key and the keys of WithPreviousKeys. The dialect is detected from
// the driver (pgx and lib/pq are Postgres; modernc.org/sqlite and
// mattn/go-sqlite3 are SQLite) unless WithDialect is given. New does not
// touch the database: call Migrate before the first use.
//
// Open SQLite with _pragma=busy_timeout(5000) (and, for concurrent readers,
// _pragma=journal_mode(WAL)) so that concurrent writers wait for each other
// instead of failing; Migrate refuses a pool of several connections
// without a busy timeout.
func New(db *sql.DB, key Key, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	var c config
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	d, err := sqldb.Pick(db, sqldb.Dialect(c.dialect))
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(key, c.previous)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, dialect: d, keys: keys, q: newQueries(d)}, nil
}

// Dialect returns the dialect the Store speaks.
func (s *Store) Dialect() Dialect { return Dialect(s.dialect) }

// Load returns the link of orgID with its token decrypted, or
// gcal.ErrNotLinked. A token that cannot be decrypted is a *DecryptError
// (ErrUnknownKey, ErrWrongKey or ErrTampered), never a wrong token.
func (s *Store) Load(ctx context.Context, orgID string) (gcal.Link, error) {
	l := gcal.Link{OrgID: orgID}
	var (
		status       string
		token, check []byte
		keyID        string
		updated      timeValue
	)
	err := s.db.QueryRowContext(ctx, s.q.load, orgID).Scan(
		&status, &l.Reason, &l.CalendarID, &l.RequestID, &token, &keyID, &check, &l.Version, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return gcal.Link{}, gcal.ErrNotLinked
	case err != nil:
		return gcal.Link{}, fmt.Errorf("sqlstore: load link of org %q: %w", orgID, err)
	}
	l.Status, l.UpdatedAt = gcal.Status(status), updated.t
	if token != nil {
		tok, err := s.keys.open(orgID, keyID, check, token)
		if err != nil {
			return gcal.Link{}, safecall.Mark(err, safecall.Permanent)
		}
		l.Token = tok
	}
	return l, nil
}

// Save stores l if the stored version is l.Version (0: none stored), with
// its token encrypted under the current key, and returns it with the new
// Version and UpdatedAt; otherwise it returns gcal.ErrConflict. The
// compare-and-swap is one SQL statement.
func (s *Store) Save(ctx context.Context, l gcal.Link) (gcal.Link, error) {
	if err := l.Validate(); err != nil {
		return gcal.Link{}, err
	}
	var (
		token, check []byte
		keyID        string
		expires      any
	)
	if l.Token != nil {
		var err error
		if token, keyID, check, err = s.keys.seal(l.OrgID, l.Token); err != nil {
			return gcal.Link{}, fmt.Errorf("sqlstore: encrypt token of org %q: %w", l.OrgID, err)
		}
		if !l.Token.Expiry.IsZero() {
			expires = s.timeArg(l.Token.Expiry)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	args := []any{l.OrgID, string(l.Status), l.Reason, l.CalendarID, l.RequestID, token, keyID, check, expires, s.timeArg(now)}
	stmt := s.q.insert
	if l.Version > 0 {
		stmt = s.q.update
		args = append(args, l.Version)
	}
	res, err := s.db.ExecContext(ctx, stmt, args...)
	if err != nil {
		return gcal.Link{}, fmt.Errorf("sqlstore: save link of org %q: %w", l.OrgID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return gcal.Link{}, fmt.Errorf("sqlstore: save link of org %q: %w", l.OrgID, err)
	}
	if n == 0 {
		return gcal.Link{}, gcal.ErrConflict
	}
	l.Version++
	l.UpdatedAt = now
	if l.Token != nil {
		t := *l.Token
		l.Token = &t
	}
	return l, nil
}

// Forget deletes the link of orgID, tokens included; its audit rows stay.
// It is for an organisation that leaves, or whose row can no longer be
// decrypted (a lost key): it can then link again from scratch. Forgetting
// an organisation without a link does nothing.
func (s *Store) Forget(ctx context.Context, orgID string) error {
	if _, err := s.db.ExecContext(ctx, s.q.forget, orgID); err != nil {
		return fmt.Errorf("sqlstore: forget link of org %q: %w", orgID, err)
	}
	return nil
}

// timeArg is t as the dialect stores it: a timestamptz, or fixed-width
// UTC text in SQLite (which then sorts in time order).
func (s *Store) timeArg(t time.Time) any {
	t = t.UTC()
	if s.dialect == sqldb.SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// sqliteTime is the layout of times in SQLite: RFC 3339, UTC, nanoseconds.
const sqliteTime = "2006-01-02T15:04:05.000000000Z"

// timeValue scans a time stored by either dialect.
type timeValue struct{ t time.Time }

func (v *timeValue) Scan(src any) error {
	switch x := src.(type) {
	case time.Time:
		v.t = x.UTC()
		return nil
	case string:
		return v.parse(x)
	case []byte:
		return v.parse(string(x))
	}
	return fmt.Errorf("sqlstore: cannot read %T as a time", src)
}

func (v *timeValue) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	v.t = t.UTC()
	return err
}

// queries holds the statements of one dialect.
type queries struct {
	load, insert, update, forget, audit, auditLog, stale, rekey string
}

// newQueries writes the statements with $n placeholders, in dialect d.
func newQueries(d sqldb.Dialect) queries {
	q := queries{
		load: `SELECT status, reason, calendar_id, request_id, token, key_id, key_check, version, updated_at
			FROM gcal_links WHERE org_id = $1`,
		insert: `INSERT INTO gcal_links
			(org_id, status, reason, calendar_id, request_id, token, key_id, key_check, expires_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)
			ON CONFLICT (org_id) DO NOTHING`,
		update: `UPDATE gcal_links SET status = $2, reason = $3, calendar_id = $4, request_id = $5,
			token = $6, key_id = $7, key_check = $8, expires_at = $9, updated_at = $10, version = version + 1
			WHERE org_id = $1 AND version = $11`,
		forget:   `DELETE FROM gcal_links WHERE org_id = $1`,
		audit:    `INSERT INTO gcal_audit (org_id, event, detail, at) VALUES ($1, $2, $3, $4)`,
		auditLog: `SELECT event, detail, at FROM gcal_audit WHERE org_id = $1 ORDER BY id DESC LIMIT $2`,
		stale:    `SELECT org_id, token, key_id, key_check, version FROM gcal_links WHERE token IS NOT NULL AND key_id <> $1`,
		rekey: `UPDATE gcal_links SET token = $2, key_id = $3, key_check = $4
			WHERE org_id = $1 AND version = $5 AND key_id = $6`,
	}
	for _, p := range []*string{&q.load, &q.insert, &q.update, &q.forget, &q.audit, &q.auditLog, &q.stale, &q.rekey} {
		*p = d.Rebind(*p)
	}
	return q
}
