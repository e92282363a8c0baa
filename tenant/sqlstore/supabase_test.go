package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

// The signup trigger against Supabase Auth's own schema and SQL (issue 14)
// and the trigger faults of the attack review (issue 16).

// requireOrg checks that the user's raw_app_meta_data is an object whose
// org_id is the organisation of their profile, and returns it.
func (sb *supabase) requireOrg(t *testing.T, id string) (org string, meta map[string]any) {
	t.Helper()
	meta, ok := sb.appMeta(t, id).(map[string]any)
	require.True(t, ok, "raw_app_meta_data = %v", sb.appMeta(t, id))
	org, _ = meta["org_id"].(string)
	require.NotEmpty(t, org, "raw_app_meta_data = %v", meta)
	got, err := sb.store.OrgForUser(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, got, org, "the token's org is the profile's")
	return org, meta
}

// exec runs each statement as the test's superuser.
func (sb *supabase) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		_, err := sb.db.ExecContext(t.Context(), stmt)
		require.NoError(t, err, stmt)
	}
}

// TestSignupTriggerNonObjectAppMetadata: raw_app_meta_data inserted as JSON
// null, a string or an array became an array with the org inside; SQL NULL
// too must end as an object holding org_id.
func TestSignupTriggerNonObjectAppMetadata(t *testing.T) {
	sb := newSupabase(t)
	for _, appMeta := range []string{`'null'`, `'"org-evil"'`, `'["email"]'`, `NULL`, `'{}'`} {
		t.Run(appMeta, func(t *testing.T) {
			id := newUserID(t)
			sb.insertUser(t, id, "", appMeta, false)
			_, meta := sb.requireOrg(t, id)
			assert.Len(t, meta, 1, "an object with org_id: %v", meta)
		})
	}
	assert.Empty(t, sb.warnings())
}

// TestSignupTriggerDoesNotWaitForLockedOrganizations: a lock held on
// organizations (a long migration, a VACUUM FULL) blocked every signup
// for as long as it was held. The trigger gives up after lock_timeout, the
// signup goes through without an org, and the Provisioner heals it later.
func TestSignupTriggerDoesNotWaitForLockedOrganizations(t *testing.T) {
	sb := newSupabase(t)
	ctx := t.Context()
	locker, err := sb.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = locker.Rollback() }()
	_, err = locker.ExecContext(ctx, `LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	id := newUserID(t)
	signupCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = sb.gotrue.ExecContext(signupCtx, `INSERT INTO users (id, email, raw_app_meta_data) VALUES ($1, 'lee@clinic.com', '{}')`, id)
	require.NoError(t, err, "the signup goes through")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, strings.Join(sb.warnings(), "\n"), "lock timeout")
	assert.Equal(t, map[string]any{}, sb.appMeta(t, id))
	require.NoError(t, locker.Rollback())

	org, err := sb.store.Provision(ctx, tenant.Info{UserID: id, Email: "lee@clinic.com"})
	require.NoError(t, err, "the Provisioner heals it")
	assert.NotEmpty(t, org)
}

// TestAdminCreatedUserKeepsOrgID: Supabase's admin API (POST /admin/users
// with app_metadata) inserts the user, then writes back its in-memory
// raw_app_meta_data, which has no org_id: the org_id was wiped.
func TestAdminCreatedUserKeepsOrgID(t *testing.T) {
	sb := newSupabase(t)
	id := newUserID(t)
	sb.insertUser(t, id, "admin-made@clinic.com", `'{"provider":"email","providers":["email"]}'`, false,
		`UPDATE users SET raw_app_meta_data = '{"provider":"email","providers":["email"],"plan":"pro"}' WHERE id = $1`)
	org, meta := sb.requireOrg(t, id)
	assert.Equal(t, "pro", meta["plan"])

	// Later writes of the metadata without org_id, or with one that names
	// no organisation, keep the profile's.
	for _, meta := range []string{`'{"provider":"email"}'`, `'null'`, `'{"org_id":"00000000-0000-4000-8000-00000000dead"}'`, `'{"org_id":42}'`} {
		_, err := sb.gotrue.ExecContext(t.Context(), `UPDATE users SET raw_app_meta_data = `+meta+` WHERE id = $1`, id)
		require.NoError(t, err)
		again, _ := sb.requireOrg(t, id)
		assert.Equal(t, org, again, meta)
	}
	assert.Equal(t, 1, count(t, sb.db, "organizations"))
	assert.Empty(t, sb.warnings())
}

// TestSignupCarryingOrgIDJoinsIt: a user inserted with (or given, by the
// admin API's update) an org_id of an existing organisation joins it,
// instead of getting a new organisation of their own.
func TestSignupCarryingOrgIDJoinsIt(t *testing.T) {
	sb := newSupabase(t)
	owner, meta := sb.signup(t, "owner@clinic.com")
	clinic := meta["org_id"].(string)

	t.Run("insert", func(t *testing.T) {
		id := newUserID(t)
		sb.insertUser(t, id, "nurse@clinic.com", `'{"provider":"email","org_id":"`+clinic+`"}'`, false)
		org, _ := sb.requireOrg(t, id)
		assert.Equal(t, clinic, org)
	})
	t.Run("admin API update", func(t *testing.T) {
		id := newUserID(t)
		sb.insertUser(t, id, "doctor@clinic.com", `'{"provider":"email","providers":["email"]}'`, false,
			`UPDATE users SET raw_app_meta_data = '{"provider":"email","providers":["email"],"org_id":"`+clinic+`"}' WHERE id = $1`)
		org, _ := sb.requireOrg(t, id)
		assert.Equal(t, clinic, org)
	})
	assert.Equal(t, 1, count(t, sb.db, "organizations"), "the organisation made in between is gone")
	var joined int
	require.NoError(t, sb.db.QueryRowContext(t.Context(), `SELECT count(*) FROM audit_log WHERE action = $1 AND org_id = $2`,
		sqlstore.AuditMemberJoined, clinic).Scan(&joined))
	assert.Equal(t, 2, joined)
	org, err := sb.store.OrgForUser(t.Context(), owner)
	require.NoError(t, err)
	assert.Equal(t, clinic, org)
}

// TestTriggerOwnerWithoutBypassRLSStillWritesOrgID: Supabase enables row
// level security on auth.users; a trigger owner without BYPASSRLS updated
// 0 rows there, silently, while the organisation and profile were made.
func TestTriggerOwnerWithoutBypassRLSStillWritesOrgID(t *testing.T) {
	sb := newSupabaseAuth(t)
	installer := sb.role(t, "installer", "NOLOGIN NOBYPASSRLS")
	ctx := t.Context()
	sb.exec(t,
		`GRANT USAGE, CREATE ON SCHEMA `+sb.schema+` TO `+installer,
		`GRANT USAGE ON SCHEMA `+sb.ns+` TO `+installer,
		`GRANT SELECT, UPDATE, TRIGGER ON `+sb.usersTable+` TO `+installer,
	)
	sb.store = newStore(t, sb.connect(t, installer, sb.schema))
	require.NoError(t, sb.store.InstallSignupTrigger(ctx, sb.usersTable))

	id, _ := sb.signup(t, "rls@clinic.com")
	sb.requireOrg(t, id)
	assert.Empty(t, sb.warnings())
}

// TestInstallRefusesRoleThatCannotWriteTables: a role that neither owns
// the store's tables nor has BYPASSRLS would install a trigger whose every
// write row level security refuses; the installer says so instead.
func TestInstallRefusesRoleThatCannotWriteTables(t *testing.T) {
	sb := newSupabaseAuth(t)
	sb.store = newStore(t, sb.db) // the tables belong to the superuser
	other := sb.role(t, "other", "NOLOGIN NOBYPASSRLS")
	ctx := t.Context()
	sb.exec(t,
		`GRANT USAGE, CREATE ON SCHEMA `+sb.schema+` TO `+other,
		`GRANT ALL ON ALL TABLES IN SCHEMA `+sb.schema+` TO `+other,
		`GRANT USAGE ON SCHEMA `+sb.ns+` TO `+other,
		`GRANT TRIGGER ON `+sb.usersTable+` TO `+other,
	)
	store, err := sqlstore.New(sb.connect(t, other, sb.schema))
	require.NoError(t, err)
	err = store.InstallSignupTrigger(ctx, sb.usersTable)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nor has BYPASSRLS")
	assert.Contains(t, err.Error(), "hint: Install the trigger as the role that ran Migrate")
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr))
	assert.Equal(t, "42501", pgErr.Code)

	var triggers int
	require.NoError(t, sb.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`,
		sb.usersTable).Scan(&triggers))
	assert.Zero(t, triggers, "nothing installed")
}

// TestReinstallAsNonOwnerWithTriggerPrivilege: installing again failed
// with "must be owner of relation users" for a role that has the TRIGGER
// privilege on auth.users without owning it (Supabase's postgres role).
func TestReinstallAsNonOwnerWithTriggerPrivilege(t *testing.T) {
	sb := newSupabaseAuth(t)
	installer := sb.role(t, "installer", "NOLOGIN NOBYPASSRLS")
	ctx := t.Context()
	sb.exec(t,
		`GRANT USAGE, CREATE ON SCHEMA `+sb.schema+` TO `+installer,
		`GRANT USAGE ON SCHEMA `+sb.ns+` TO `+installer,
		`GRANT TRIGGER ON `+sb.usersTable+` TO `+installer,
	)
	sb.store = newStore(t, sb.connect(t, installer, sb.schema))
	for range 3 {
		require.NoError(t, sb.store.InstallSignupTrigger(ctx, sb.usersTable))
	}
	var triggers int
	require.NoError(t, sb.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`,
		sb.usersTable).Scan(&triggers))
	assert.Equal(t, 3, triggers, "insert, metadata update and delete")

	// Unchanged triggers are left alone: once the privilege is revoked,
	// reinstalling still succeeds...
	_, err := sb.db.ExecContext(ctx, `REVOKE TRIGGER ON `+sb.usersTable+` FROM `+installer)
	require.NoError(t, err)
	require.NoError(t, sb.store.InstallSignupTrigger(ctx, sb.usersTable))
	id, _ := sb.signup(t, "again@clinic.com")
	sb.requireOrg(t, id)

	// ...and a trigger that must change is refused with the fix spelled out.
	_, err = sb.db.ExecContext(ctx, `DROP TRIGGER auto_org_on_user_delete ON `+sb.usersTable)
	require.NoError(t, err)
	err = sb.store.InstallSignupTrigger(ctx, sb.usersTable)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "may not create or change trigger auto_org_on_user_delete")
	assert.Contains(t, err.Error(), "hint: GRANT TRIGGER ON "+sb.usersTable+" TO "+installer)
}

// TestAnonymousSignInGetsNoOrganization: each anonymous sign-in created an
// organisation. By default they get none, neither from the trigger nor from
// Provision, until they become permanent users.
func TestAnonymousSignInGetsNoOrganization(t *testing.T) {
	sb := newSupabase(t)
	ctx := t.Context()
	id := newUserID(t)
	sb.insertUser(t, id, "", `'{}'`, true)
	assert.Equal(t, map[string]any{}, sb.appMeta(t, id))
	_, err := sb.store.OrgForUser(ctx, id)
	require.ErrorIs(t, err, tenant.ErrNoOrg)
	_, err = sb.store.Provision(ctx, tenant.Info{UserID: id, Anonymous: true})
	require.ErrorIs(t, err, tenant.ErrNoOrg, "no organisation from the Provisioner either")
	assert.Equal(t, 0, count(t, sb.db, "organizations"))

	// Linking an email makes the user permanent: they get one then.
	_, err = sb.gotrue.ExecContext(ctx, `UPDATE users SET is_anonymous = false, email = 'kept@clinic.com' WHERE id = $1`, id)
	require.NoError(t, err)
	sb.requireOrg(t, id)
	assert.Empty(t, sb.warnings())

	t.Run("WithAnonymousOrgs", func(t *testing.T) {
		sb := newSupabase(t, sqlstore.WithAnonymousOrgs(true))
		id := newUserID(t)
		sb.insertUser(t, id, "", `'{}'`, true)
		sb.requireOrg(t, id)
		org, err := sb.store.Provision(ctx, tenant.Info{UserID: "another-anonymous", Anonymous: true})
		require.NoError(t, err)
		assert.NotEmpty(t, org)
	})
}

// TestDeletingUserRemovesProfileKeepsOrganization: deleting an auth user
// left their profile, so the Directory kept answering for them.
func TestDeletingUserRemovesProfileKeepsOrganization(t *testing.T) {
	sb := newSupabase(t)
	ctx := t.Context()
	gone, meta := sb.signup(t, "gone@clinic.com")
	clinic := meta["org_id"].(string)
	stays := newUserID(t)
	sb.insertUser(t, stays, "stays@clinic.com", `'{"org_id":"`+clinic+`"}'`, false)

	_, err := sb.gotrue.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, gone)
	require.NoError(t, err)

	_, err = sb.store.OrgForUser(ctx, gone)
	require.ErrorIs(t, err, tenant.ErrNoOrg)
	org, err := sb.store.OrgForUser(ctx, stays)
	require.NoError(t, err)
	assert.Equal(t, clinic, org, "the other member stays")
	assert.Equal(t, 1, count(t, sb.db, "organizations"), "the organisation and its data stay")
	var action string
	require.NoError(t, sb.db.QueryRowContext(ctx, `SELECT action FROM audit_log WHERE actor = $1 ORDER BY id DESC LIMIT 1`,
		gone).Scan(&action))
	assert.Equal(t, sqlstore.AuditMemberRemoved, action)
	assert.Empty(t, sb.warnings())
}

// TestRemovingAnOrganization follows what the package documentation tells
// an operator to do.
func TestRemovingAnOrganization(t *testing.T) {
	sb := newSupabase(t)
	ctx := t.Context()
	id, meta := sb.signup(t, "closing@clinic.com")
	clinic := meta["org_id"].(string)

	tx, err := sb.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `DELETE FROM `+sb.usersTable+` WHERE raw_app_meta_data->>'org_id' = $1`, clinic)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1`, clinic)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	_, err = sb.store.OrgForUser(ctx, id)
	require.ErrorIs(t, err, tenant.ErrNoOrg)
	assert.Equal(t, 0, count(t, sb.db, "organizations"))
	assert.Equal(t, 0, count(t, sb.db, "profiles"))
}

// TestSQLiteWithoutBusyTimeoutIsRefused: without busy_timeout, 72 of 100
// concurrent provisions failed with SQLITE_BUSY. Migrate refuses such a
// pool and says which DSN to use.
func TestSQLiteWithoutBusyTimeoutIsRefused(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/no-timeout.db?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	err = s.Migrate(t.Context())
	require.ErrorIs(t, err, sqlstore.ErrSQLiteBusyTimeout)
	assert.Contains(t, err.Error(), "_pragma=busy_timeout(5000)")
	_, err = s.Provision(t.Context(), tenant.Info{UserID: "u"})
	require.ErrorIs(t, err, sqlstore.ErrSQLiteBusyTimeout)

	// One connection cannot compete with itself: accepted.
	db.SetMaxOpenConns(1)
	require.NoError(t, s.Migrate(t.Context()))
}

// TestSQLiteConcurrentProvisions: with the DSN the package documents, 100
// concurrent provisions of distinct users all succeed.
func TestSQLiteConcurrentProvisions(t *testing.T) {
	db := openSQLite(t)
	s := newStore(t, db)
	errs := make(chan error, 100)
	for i := range 100 {
		go func() {
			_, err := s.Provision(t.Context(), tenant.Info{UserID: fmt.Sprintf("user-%d", i)})
			errs <- err
		}()
	}
	for range 100 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, 100, count(t, db, "organizations"))
}

// TestCustomHookOrgAtTopLevel: with a custom access token hook that puts
// org_id at the top level, the default org claim missed it, and a user
// without a profile got a second organisation from the Provisioner.
// WithOrgClaim("org_id") reads it.
func TestCustomHookOrgAtTopLevel(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		store := &countingStore{Store: newStore(t, db)}
		hookToken := func(org string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": "hooked-user", "role": "authenticated", "aud": "authenticated",
				"exp": time.Now().Add(time.Hour).Unix(), "org_id": org,
				"app_metadata": map[string]any{"provider": "email"},
			}).SignedString([]byte(jwtSecret))
			require.NoError(t, err)
			return tok
		}
		v, err := tenant.HS256([]byte(jwtSecret), tenant.WithOrgClaim("org_id"))
		require.NoError(t, err)
		h := tenant.Middleware(v, tenant.WithDirectory(store), tenant.WithProvisioner(store))(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				info, _ := tenant.FromContext(r.Context())
				_, _ = w.Write([]byte(info.OrgID + " " + info.Source.String()))
			}))
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+hookToken("org-from-hook"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "org-from-hook claim", rec.Body.String())
		assert.Zero(t, store.lookups.Load()+store.provisions.Load())
		assert.Equal(t, 0, count(t, db, "organizations"))
	})
}
