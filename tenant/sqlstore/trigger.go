package sqlstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/voxanne/resilience/internal/sqldb"
)

// signupTrigger is the optional Supabase signup trigger, kept out of the
// numbered migrations: Migrate never applies it.
//
//go:embed supabase/signup_trigger.sql
var signupTrigger string

// SupabaseUsersTable is the table Supabase Auth (GoTrue) inserts new users
// into.
const SupabaseUsersTable = "auth.users"

// Audit actions of the Supabase signup trigger, beside AuditOrgCreated.
const (
	// AuditMemberJoined: a user joined the existing organisation named by
	// the org_id that the service role put in their app metadata.
	AuditMemberJoined = "organization.member_joined"
	// AuditMemberRemoved: the auth user was deleted; their profile went.
	AuditMemberRemoved = "organization.member_removed"
)

// SupabaseSignupTrigger returns the SQL that installs the optional Supabase
// signup triggers (see the package documentation): before each INSERT on
// auth.users, and each UPDATE of its app metadata, they give the user an
// organisation, profile and audit_log row and set org_id in the user's
// raw_app_meta_data, so that the user's tokens carry app_metadata.org_id;
// after each DELETE they remove the user's profile. A failure inside them
// is raised as a WARNING and never blocks the signup. Migrate does not
// apply it; run it after Migrate with InstallSignupTrigger, or paste it into
// a Supabase migration (anonymous sign-ins then get no organisation).
func SupabaseSignupTrigger() string { return signupTrigger }

// InstallSignupTrigger installs SupabaseSignupTrigger on PostgreSQL, for
// usersTable ("" means SupabaseUsersTable). The functions are created in the
// schema of the Store's tables and run as the Store's role, so call Migrate
// first, as the same role. Installing again leaves what is already in place
// alone and replaces what differs, with CREATE OR REPLACE (which needs the
// TRIGGER privilege on usersTable, not its ownership). Anonymous users get
// an organisation only WithAnonymousOrgs(true).
//
// Before changing anything it checks that the role can do what the trigger
// needs (write the tables despite their row level security, create triggers
// on usersTable) and otherwise returns an error that says what to grant. On
// SQLite it returns an error matching errors.ErrUnsupported.
func (s *Store) InstallSignupTrigger(ctx context.Context, usersTable string) (err error) {
	if s.dialect != sqldb.Postgres {
		return fmt.Errorf("sqlstore: signup trigger on %s: %w", s.dialect, errors.ErrUnsupported)
	}
	if usersTable == "" {
		usersTable = SupabaseUsersTable
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: install signup trigger: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("sqlstore: install signup trigger: %w", withHint(err))
		}
	}()
	anonymous := "off"
	if s.anonymousOrgs {
		anonymous = "on"
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('sqlstore.auth_users_table', $1, true),
		set_config('sqlstore.anonymous_orgs', $2, true)`, usersTable, anonymous); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, signupTrigger); err != nil {
		return err
	}
	return tx.Commit()
}

// hintError adds PostgreSQL's hint, which says how to fix the error, to
// its message.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; hint: " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Hint != "" {
		return &hintError{err: err, hint: pgErr.Hint}
	}
	return err
}
