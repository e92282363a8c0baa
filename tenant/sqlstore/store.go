package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/voxanne/resilience/internal/sqldb"
	"github.com/voxanne/resilience/tenant"
)

// Compile-time checks that Store is what the tenant middleware consumes.
var (
	_ tenant.Directory   = (*Store)(nil)
	_ tenant.Provisioner = (*Store)(nil)
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

// ErrSQLiteBusyTimeout is returned by Migrate and Provision on a SQLite pool
// of more than one connection opened without busy_timeout: its concurrent
// writers would fail with SQLITE_BUSY instead of waiting for each other.
var ErrSQLiteBusyTimeout = sqldb.ErrNoBusyTimeout

// SQLiteDSNParams are the connection parameters of modernc.org/sqlite that a
// SQLite database for a Store needs, as in
// "file:app.db?"+SQLiteDSNParams: writers wait up to 5s for each other,
// readers do not block writers (WAL), and deleting an organisation deletes
// its profiles (foreign keys are off by default in SQLite).
const SQLiteDSNParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"

// ErrEmptyUserID is returned by Provision for an Info without a UserID.
var ErrEmptyUserID = errors.New("sqlstore: empty user ID")

// Option configures a Store.
type Option func(*config)

type config struct {
	dialect       Dialect
	orgName       func(tenant.Info) string
	anonymousOrgs bool
}

// WithDialect sets the dialect instead of detecting it from the driver; needed
// when the *sql.DB comes from a wrapping driver (tracing, metrics).
func WithDialect(d Dialect) Option {
	return func(c *config) { c.dialect = d }
}

// WithOrgName sets how Provision names a new organisation. The default is
// DefaultOrgName.
func WithOrgName(name func(tenant.Info) string) Option {
	return func(c *config) { c.orgName = name }
}

// WithAnonymousOrgs, when on, gives Supabase's anonymous users
// (tenant.Info.Anonymous, is_anonymous) an organisation of their own, in
// Provision and in the signup trigger that InstallSignupTrigger installs.
// Off by default: Provision answers tenant.ErrNoOrg for them, and the trigger
// leaves them without one until they become permanent users.
func WithAnonymousOrgs(on bool) Option {
	return func(c *config) { c.anonymousOrgs = on }
}

// DefaultOrgName names a user's first organisation after the local part of
// their email: "alice@clinic.com" gets "alice's organization". A user without
// an email gets their user ID in its place. The Supabase signup trigger
// applies the same rule.
func DefaultOrgName(user tenant.Info) string {
	owner, _, _ := strings.Cut(user.Email, "@")
	if owner == "" {
		owner = user.UserID
	}
	return owner + "'s organization"
}

// Store keeps users' organisations in the tables organizations, profiles and
// audit_log of a PostgreSQL or SQLite database. It implements
// tenant.Directory and tenant.Provisioner. A Store is safe for concurrent use;
// it holds no connection of its own beyond the *sql.DB it was given.
type Store struct {
	db            *sql.DB
	dialect       sqldb.Dialect
	orgName       func(tenant.Info) string
	anonymousOrgs bool
	q             queries
	connOK        atomic.Bool // the SQLite connection settings were checked
}

// New returns a Store on db. The dialect is detected from the driver
// (pgx and lib/pq are Postgres; modernc.org/sqlite and mattn/go-sqlite3 are
// SQLite) unless WithDialect is given; any other driver gives
// ErrUnknownDialect. New does not touch the database: call Migrate before the
// first use.
//
// For SQLite, open the database with SQLiteDSNParams (with
// mattn/go-sqlite3: _busy_timeout=5000&_journal_mode=WAL&_foreign_keys=1):
// Migrate and Provision refuse a pool of more than one connection without
// busy_timeout (ErrSQLiteBusyTimeout).
func New(db *sql.DB, opts ...Option) (*Store, error) {
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
	if c.orgName == nil {
		c.orgName = DefaultOrgName
	}
	return &Store{db: db, dialect: d, orgName: c.orgName, anonymousOrgs: c.anonymousOrgs, q: newQueries(d)}, nil
}

// checkConn refuses SQLite connections whose concurrent writers would fail
// rather than wait. A pool of one connection has no concurrent writers.
func (s *Store) checkConn(ctx context.Context) error {
	if s.dialect != sqldb.SQLite || s.connOK.Load() || s.db.Stats().MaxOpenConnections == 1 {
		return nil
	}
	if err := sqldb.CheckBusyTimeout(ctx, s.db, SQLiteDSNParams); err != nil {
		return err
	}
	s.connOK.Store(true)
	return nil
}

// Dialect returns the dialect the Store speaks.
func (s *Store) Dialect() Dialect { return Dialect(s.dialect) }

// OrgForUser returns the organisation of the user's profile, or
// tenant.ErrNoOrg when the user has no profile.
func (s *Store) OrgForUser(ctx context.Context, userID string) (string, error) {
	var orgID string
	err := s.db.QueryRowContext(ctx, s.q.orgForUser, userID).Scan(&orgID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", tenant.ErrNoOrg
	case err != nil:
		return "", fmt.Errorf("sqlstore: org for user %q: %w", userID, err)
	}
	return orgID, nil
}

// queries holds the statements of one dialect.
type queries struct {
	orgForUser    string
	insertOrg     string
	insertProfile string
	insertAudit   string
}

// newQueries writes the statements with $n placeholders, in dialect d.
func newQueries(d sqldb.Dialect) queries {
	q := queries{
		orgForUser:    `SELECT CAST(org_id AS TEXT) FROM profiles WHERE user_id = $1`,
		insertOrg:     `INSERT INTO organizations (id, name) VALUES ($1, $2)`,
		insertProfile: `INSERT INTO profiles (user_id, org_id, email, role) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING`,
		insertAudit:   `INSERT INTO audit_log (org_id, actor, action, details) VALUES ($1, $2, $3, $4)`,
	}
	for _, p := range []*string{&q.orgForUser, &q.insertOrg, &q.insertProfile, &q.insertAudit} {
		*p = d.Rebind(*p)
	}
	return q
}
