package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// signupTriggerFile is the optional migration that Migrate skips.
const signupTriggerFile = "migrations/postgres/002_auto_org_on_signup.sql"

// SupabaseUsersTable is the table Supabase Auth (GoTrue) inserts new users
// into.
const SupabaseUsersTable = "auth.users"

// SupabaseSignupTrigger returns the SQL of the optional Supabase signup
// trigger (migrations/postgres/002_auto_org_on_signup.sql): after each INSERT
// on auth.users it creates the user's organisation, profile and audit_log
// row and writes org_id into the user's raw_app_meta_data, so that the user's
// tokens carry app_metadata.org_id. A failure inside it is raised as a
// WARNING and never blocks the signup. Migrate does not apply it; run it
// after Migrate with InstallSignupTrigger or paste it into a Supabase
// migration.
func SupabaseSignupTrigger() string {
	b, err := migrationFiles.ReadFile(signupTriggerFile)
	if err != nil {
		panic("sqlstore: embedded signup trigger missing: " + err.Error()) // unreachable: embedded at build time
	}
	return string(b)
}

// InstallSignupTrigger installs SupabaseSignupTrigger on PostgreSQL, for new
// rows of usersTable ("" means SupabaseUsersTable). The function is created
// in the schema of the Store's tables and runs as the Store's role, so call
// Migrate first, as the same role. Installing again replaces the trigger. On SQLite it returns an error matching
// errors.ErrUnsupported.
func (s *Store) InstallSignupTrigger(ctx context.Context, usersTable string) (err error) {
	if s.dialect != Postgres {
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
			err = fmt.Errorf("sqlstore: install signup trigger: %w", err)
		}
	}()
	if _, err := tx.ExecContext(ctx, `SELECT set_config('sqlstore.auth_users_table', $1, true)`, usersTable); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, SupabaseSignupTrigger()); err != nil {
		return err
	}
	return tx.Commit()
}
