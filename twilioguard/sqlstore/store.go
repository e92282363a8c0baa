package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/voxanne/resilience/internal/sqldb"
	"github.com/voxanne/resilience/twilioguard"
)

// Compile-time checks that Store is what twilioguard consumes.
var (
	_ twilioguard.DeliveryStore = (*Store)(nil)
	_ twilioguard.AuditSink     = (*Store)(nil)
)

// Dialect is the SQL database a Store talks to.
type Dialect uint8

const (
	// Postgres is PostgreSQL 13 or later, Supabase included, through
	// github.com/jackc/pgx/v5/stdlib.
	Postgres Dialect = iota + 1
	// SQLite is SQLite 3.35 or later (for RETURNING), through
	// modernc.org/sqlite.
	SQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string { return sqldb.Dialect(d).String() }

// ErrUnknownDialect is returned by New when the dialect cannot be told from
// the driver and WithDialect was not given.
var ErrUnknownDialect = sqldb.ErrUnknownDialect

// Option configures a Store.
type Option func(*Store)

// WithDialect sets the dialect instead of detecting it from the driver;
// needed when the *sql.DB comes from a wrapping driver (tracing, metrics).
func WithDialect(d Dialect) Option { return func(s *Store) { s.dialect = sqldb.Dialect(d) } }

// Store keeps twilioguard's deliveries and audit entries in the tables
// sms_deliveries and sms_audit of a PostgreSQL or SQLite database, shared by
// every instance of a service. It implements twilioguard.DeliveryStore and
// twilioguard.AuditSink, and is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect sqldb.Dialect
	q       queries
}

// New returns a Store on db. The dialect is detected from the driver (pgx
// and lib/pq are Postgres; modernc.org/sqlite and mattn/go-sqlite3 are
// SQLite) unless WithDialect is given. New does not touch the database:
// call Migrate before the first use.
//
// A SQLite database used by more than one connection must be opened with
// a busy timeout (Migrate checks): _pragma=busy_timeout(5000), and
// _pragma=journal_mode(WAL) so that readers do not wait for writers.
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	s := &Store{db: db}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	var err error
	if s.dialect, err = sqldb.Pick(db, s.dialect); err != nil {
		return nil, err
	}
	s.q = newQueries(s.dialect)
	return s, nil
}

// Dialect returns the dialect the Store speaks.
func (s *Store) Dialect() Dialect { return Dialect(s.dialect) }

const deliveryColumns = `org_id, msg_key, to_number, from_number, COALESCE(sid, ''), status,
	error_code, attempts, version, lease_until, created_at, updated_at`

// queries holds the statements of one dialect.
type queries struct {
	create, get, bySID, update, audit, trail string
}

// newQueries writes the statements with $n placeholders, in dialect d.
func newQueries(d sqldb.Dialect) queries {
	q := queries{
		create: `INSERT INTO sms_deliveries (org_id, msg_key, to_number, from_number, sid, status,
			error_code, attempts, version, lease_until, created_at, updated_at)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, 1, $9, $10, $11)
			ON CONFLICT (org_id, msg_key) DO NOTHING
			RETURNING ` + deliveryColumns,
		get:   `SELECT ` + deliveryColumns + ` FROM sms_deliveries WHERE org_id = $1 AND msg_key = $2`,
		bySID: `SELECT ` + deliveryColumns + ` FROM sms_deliveries WHERE sid = $1`,
		update: `UPDATE sms_deliveries SET to_number = $3, from_number = $4, sid = NULLIF($5, ''),
			status = $6, error_code = $7, attempts = $8, version = version + 1, lease_until = $9,
			updated_at = $10
			WHERE org_id = $1 AND msg_key = $2 AND version = $11
			RETURNING ` + deliveryColumns,
		audit: `INSERT INTO sms_audit (at, org_id, msg_key, event, to_masked, attempt, class, code,
			http_status, sid, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		trail: `SELECT at, org_id, msg_key, event, to_masked, attempt, class, code, http_status, sid, status
			FROM sms_audit WHERE org_id = $1 AND msg_key = $2 ORDER BY id`,
	}
	for _, p := range []*string{&q.create, &q.get, &q.bySID, &q.update, &q.audit, &q.trail} {
		*p = d.Rebind(*p)
	}
	return q
}

// sqliteTime is how SQLite columns hold times: UTC, fixed width, so that
// they sort as text.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// arg returns t as the dialect stores it; the zero time is NULL.
func (s *Store) arg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == sqldb.SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// timeColumn scans a time stored by either dialect; NULL is the zero time.
type timeColumn struct{ t *time.Time }

func (c timeColumn) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot read a time from %T", v)
	}
	return nil
}

func (c timeColumn) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("sqlstore: bad time %q: %w", v, err)
	}
	*c.t = t.UTC()
	return nil
}

// scanDelivery reads the deliveryColumns of a row.
func scanDelivery(row interface{ Scan(...any) error }) (twilioguard.Delivery, error) {
	var d twilioguard.Delivery
	var status string
	err := row.Scan(&d.OrgID, &d.Key, &d.To, &d.From, &d.SID, &status, &d.ErrorCode, &d.Attempts,
		&d.Version, timeColumn{&d.LeaseUntil}, timeColumn{&d.CreatedAt}, timeColumn{&d.UpdatedAt})
	d.Status = twilioguard.Status(status)
	return d, err
}
