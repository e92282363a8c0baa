package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"

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
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", uint8(d))
}

// ErrUnknownDialect is returned by New when the dialect cannot be told from
// the driver and WithDialect was not given.
var ErrUnknownDialect = errors.New("sqlstore: unknown SQL dialect; use WithDialect")

// ErrEmptyUserID is returned by Provision for an Info without a UserID.
var ErrEmptyUserID = errors.New("sqlstore: empty user ID")

// Option configures a Store.
type Option func(*config)

type config struct {
	dialect Dialect
	orgName func(tenant.Info) string
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
	db      *sql.DB
	dialect Dialect
	orgName func(tenant.Info) string
	q       queries
}

// New returns a Store on db. The dialect is detected from the driver
// (pgx and lib/pq are Postgres; modernc.org/sqlite and mattn/go-sqlite3 are
// SQLite) unless WithDialect is given; any other driver gives
// ErrUnknownDialect. New does not touch the database: call Migrate before the
// first use.
//
// For SQLite with more than one connection, open the database with
// _pragma=busy_timeout(5000) and _pragma=journal_mode(WAL) so that
// concurrent writers wait for each other instead of failing, and with
// _pragma=foreign_keys(1) so that deleting an organisation deletes its
// profiles (SQLite does not enforce foreign keys otherwise).
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
	if c.dialect == 0 {
		c.dialect = detectDialect(db)
	}
	if c.dialect != Postgres && c.dialect != SQLite {
		return nil, ErrUnknownDialect
	}
	if c.orgName == nil {
		c.orgName = DefaultOrgName
	}
	return &Store{db: db, dialect: c.dialect, orgName: c.orgName, q: newQueries(c.dialect)}, nil
}

// detectDialect tells the dialect from the package of db's driver type.
func detectDialect(db *sql.DB) Dialect {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch pkg := t.PkgPath(); {
	case strings.HasPrefix(pkg, "github.com/jackc/pgx/"), pkg == "github.com/lib/pq":
		return Postgres
	case pkg == "modernc.org/sqlite", pkg == "github.com/mattn/go-sqlite3":
		return SQLite
	}
	return 0
}

// Dialect returns the dialect the Store speaks.
func (s *Store) Dialect() Dialect { return s.dialect }

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

// newQueries writes the statements with $n placeholders and, for SQLite,
// turns them into ?n.
func newQueries(d Dialect) queries {
	q := queries{
		orgForUser:    `SELECT CAST(org_id AS TEXT) FROM profiles WHERE user_id = $1`,
		insertOrg:     `INSERT INTO organizations (id, name) VALUES ($1, $2)`,
		insertProfile: `INSERT INTO profiles (user_id, org_id, email, role) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING`,
		insertAudit:   `INSERT INTO audit_log (org_id, actor, action, details) VALUES ($1, $2, $3, $4)`,
	}
	if d == SQLite {
		r := strings.NewReplacer("$", "?")
		q.orgForUser = r.Replace(q.orgForUser)
		q.insertOrg = r.Replace(q.insertOrg)
		q.insertProfile = r.Replace(q.insertProfile)
		q.insertAudit = r.Replace(q.insertAudit)
	}
	return q
}
