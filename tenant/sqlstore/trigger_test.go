package sqlstore_test

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

// supabase is a PostgreSQL test database with the Supabase-shaped auth
// schema of testdata/supabase_auth.sql, owned by a role of its own as on
// Supabase, outside the search_path; the store's tables migrated and the
// signup trigger installed by the test's superuser (Supabase's postgres).
type supabase struct {
	*pgDB
	store      *sqlstore.Store
	ns         string  // the auth schema
	usersTable string  // ns.users
	authAdmin  string  // the role of Supabase Auth, owner of ns
	gotrue     *sql.DB // Supabase Auth's connections: authAdmin, search_path ns

	mu      sync.Mutex
	notices []string
}

//go:embed testdata/supabase_auth.sql
var supabaseAuthSchema string

// newSupabaseAuth returns the database with the auth schema only.
func newSupabaseAuth(t *testing.T) *supabase {
	t.Helper()
	sb := &supabase{pgDB: openPostgres(t)}
	sb.ns = sb.schema + "_auth"
	sb.usersTable = sb.ns + ".users"
	sb.authAdmin = sb.role(t, "auth_admin", "NOLOGIN NOBYPASSRLS")
	_, err := sb.db.ExecContext(t.Context(), strings.NewReplacer(
		"{{ .Namespace }}", sb.ns, "{{ .AuthAdmin }}", sb.authAdmin).Replace(supabaseAuthSchema))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := sb.db.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+sb.ns+" CASCADE")
		if err != nil {
			t.Errorf("drop schema %s: %v", sb.ns, err)
		}
	})
	sb.gotrue = sb.connect(t, sb.authAdmin, sb.ns, func(n *pgconn.Notice) {
		if n.Severity == "WARNING" {
			sb.mu.Lock()
			sb.notices = append(sb.notices, n.Message)
			sb.mu.Unlock()
		}
	})
	return sb
}

// newSupabase returns the database with the auth schema, the store's
// tables and the signup trigger.
func newSupabase(t *testing.T, opts ...sqlstore.Option) *supabase {
	t.Helper()
	sb := newSupabaseAuth(t)
	sb.store = newStore(t, sb.db, opts...)
	require.NoError(t, sb.store.InstallSignupTrigger(t.Context(), sb.usersTable))
	return sb
}

// warnings returns the WARNING notices received so far.
func (sb *supabase) warnings() []string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return slices.Clone(sb.notices)
}

// newUserID returns a fresh auth user ID.
func newUserID(t *testing.T) string { return "00000000-0000-4000-8000-" + randomHex(t, 6) }

// insertUser inserts a user with Supabase Auth's role and columns, as its
// sign-up code does, with raw_app_meta_data appMeta (SQL text, e.g.
// `'{"provider":"email"}'` or `NULL`), and its identity, in one
// transaction; then runs then, if given, in that transaction.
func (sb *supabase) insertUser(t *testing.T, id, email, appMeta string, anonymous bool, then ...string) {
	t.Helper()
	ctx := t.Context()
	tx, err := sb.gotrue.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	var mail any
	if email != "" {
		mail = email
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users (instance_id, id, aud, role, email, encrypted_password,
		raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
		VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, '',
		`+appMeta+`, '{}', false, now(), now(), false, $3)`, id, mail, anonymous)
	require.NoError(t, err, "signup must succeed")
	provider := "email"
	if anonymous {
		provider = "anonymous"
	}
	if !anonymous {
		_, err = tx.ExecContext(ctx, `INSERT INTO identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
			VALUES ($1::text, $1::uuid, jsonb_build_object('sub', $1::text, 'email', $2::text), $3, now(), now())`, id, email, provider)
		require.NoError(t, err)
	}
	for _, stmt := range then {
		_, err = tx.ExecContext(ctx, stmt, id)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, tx.Commit())
}

// appMeta returns the user's raw_app_meta_data, decoded.
func (sb *supabase) appMeta(t *testing.T, id string) any {
	t.Helper()
	var raw []byte
	require.NoError(t, sb.db.QueryRowContext(t.Context(),
		`SELECT raw_app_meta_data FROM `+sb.usersTable+` WHERE id = $1`, id).Scan(&raw))
	var meta any
	require.NoError(t, json.Unmarshal(raw, &meta), "%s", raw)
	return meta
}

// signup inserts a user as Supabase Auth's email sign-up does and returns
// its id and raw_app_meta_data.
func (sb *supabase) signup(t *testing.T, email string) (id string, meta map[string]any) {
	t.Helper()
	id = newUserID(t)
	sb.insertUser(t, id, email, `'{"provider":"email","providers":["email"]}'`, false)
	meta, ok := sb.appMeta(t, id).(map[string]any)
	require.True(t, ok, "raw_app_meta_data is an object")
	return id, meta
}

func TestSignupTriggerCreatesOrganization(t *testing.T) {
	sb := newSupabase(t)
	ctx := t.Context()

	id, meta := sb.signup(t, "alice@clinic.com")

	orgID, ok := meta["org_id"].(string)
	require.True(t, ok, "raw_app_meta_data = %v", meta)
	got, err := sb.store.OrgForUser(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, orgID, got)

	var name string
	require.NoError(t, sb.db.QueryRowContext(ctx,
		`SELECT name FROM organizations WHERE id = $1`, orgID).Scan(&name))
	assert.Equal(t, sqlstore.DefaultOrgName(tenant.Info{UserID: id, Email: "alice@clinic.com"}), name)

	var actor, action, via string
	require.NoError(t, sb.db.QueryRowContext(ctx,
		`SELECT actor, action, details->>'via' FROM audit_log WHERE org_id = $1`, orgID).Scan(&actor, &action, &via))
	assert.Equal(t, id, actor)
	assert.Equal(t, sqlstore.AuditOrgCreated, action)
	assert.Equal(t, "signup_trigger", via)

	// Provision finds what the trigger made.
	again, err := sb.store.Provision(ctx, tenant.Info{UserID: id})
	require.NoError(t, err)
	assert.Equal(t, orgID, again)

	// Metadata already there is kept.
	var raw []byte
	id2 := "00000000-0000-4000-8000-" + randomHex(t, 6)
	require.NoError(t, sb.db.QueryRowContext(ctx,
		`INSERT INTO `+sb.usersTable+` (id, email, raw_app_meta_data)
		 VALUES ($1, NULL, '{"provider":"email"}') RETURNING id`, id2).Scan(&id2))
	require.NoError(t, sb.db.QueryRowContext(ctx,
		`SELECT raw_app_meta_data FROM `+sb.usersTable+` WHERE id = $1`, id2).Scan(&raw))
	var meta2 map[string]any
	require.NoError(t, json.Unmarshal(raw, &meta2))
	assert.Equal(t, "email", meta2["provider"])
	assert.NotEmpty(t, meta2["org_id"])

	assert.Equal(t, 2, count(t, sb.db, "organizations"))
	assert.Equal(t, 2, count(t, sb.db, "profiles"))
	assert.Equal(t, 2, count(t, sb.db, "audit_log"))
	assert.Empty(t, sb.warnings())
}

func TestSignupTriggerFailureDoesNotBlockSignup(t *testing.T) {
	tests := []struct {
		name     string
		sabotage string
	}{
		{"organizations rejects inserts", `ALTER TABLE organizations ADD CONSTRAINT no_new_orgs CHECK (false) NOT VALID`},
		{"audit_log dropped", `DROP TABLE audit_log`},
		{"organizations dropped", `DROP TABLE organizations CASCADE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSupabase(t)
			_, err := sb.db.ExecContext(t.Context(), tt.sabotage)
			require.NoError(t, err)

			id, meta := sb.signup(t, "bob@clinic.com")

			assert.NotContains(t, meta, "org_id")
			warnings := strings.Join(sb.warnings(), "\n")
			assert.Contains(t, warnings, "auto_org_on_signup: no organization for user "+id)
			assert.Equal(t, 0, count(t, sb.db, "profiles"), "the trigger's partial work is rolled back")
			var users int
			require.NoError(t, sb.db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+sb.usersTable).Scan(&users))
			assert.Equal(t, 1, users)
		})
	}
}

func TestInstallSignupTrigger(t *testing.T) {
	t.Run("reinstall keeps one trigger", func(t *testing.T) {
		sb := newSupabase(t)
		require.NoError(t, sb.store.InstallSignupTrigger(t.Context(), sb.usersTable))
		sb.signup(t, "carol@clinic.com")
		assert.Equal(t, 1, count(t, sb.db, "organizations"))
	})
	t.Run("before Migrate", func(t *testing.T) {
		pg := openPostgres(t)
		s, err := sqlstore.New(pg.db)
		require.NoError(t, err)
		_, err = pg.db.ExecContext(t.Context(), `CREATE TABLE users (id uuid PRIMARY KEY, raw_app_meta_data jsonb)`)
		require.NoError(t, err)
		err = s.InstallSignupTrigger(t.Context(), pg.schema+".users")
		require.ErrorContains(t, err, "run Migrate first")
	})
	t.Run("no users table", func(t *testing.T) {
		pg := openPostgres(t)
		s := newStore(t, pg.db)
		err := s.InstallSignupTrigger(t.Context(), "") // auth.users
		if err == nil {
			t.Skip("this database has a real auth.users")
		}
		require.ErrorContains(t, err, "no users table auth.users")
	})
	t.Run("search_path pinned", func(t *testing.T) {
		sb := newSupabase(t)
		var config string
		require.NoError(t, sb.db.QueryRowContext(t.Context(),
			`SELECT array_to_string(proconfig, '|') FROM pg_proc WHERE oid = 'auto_org_on_signup'::regproc`).
			Scan(&config))
		assert.Equal(t, "search_path=pg_catalog, pg_temp|lock_timeout=1s", config,
			"no schema that others may write to is searched by a SECURITY DEFINER function")

		// Supabase Auth inserts with its own search_path and role: the
		// trigger still finds the tables.
		_, err := sb.gotrue.ExecContext(t.Context(),
			`INSERT INTO users (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'dan@clinic.com')`)
		require.NoError(t, err)
		org, err := sb.store.OrgForUser(t.Context(), "00000000-0000-4000-8000-000000000001")
		require.NoError(t, err)
		assert.NotEmpty(t, org)
		assert.Empty(t, sb.warnings())
	})
	t.Run("sqlite", func(t *testing.T) {
		s := newStore(t, openSQLite(t))
		err := s.InstallSignupTrigger(t.Context(), "")
		require.True(t, errors.Is(err, errors.ErrUnsupported), "%v", err)
	})
	t.Run("sql text", func(t *testing.T) {
		sqlText := sqlstore.SupabaseSignupTrigger()
		assert.Contains(t, sqlText, "SECURITY DEFINER")
		assert.Contains(t, sqlText, "EXCEPTION WHEN others THEN")
		assert.Contains(t, sqlText, "BEFORE INSERT")
		assert.Contains(t, sqlText, "lock_timeout")
	})
}

// TestSignupThenStaleToken follows a Supabase user: the trigger gives them
// an organisation at signup, their first token (issued before) has no org
// claim, and the middleware finds the trigger's organisation without
// provisioning another.
func TestSignupThenStaleToken(t *testing.T) {
	sb := newSupabase(t)
	id, meta := sb.signup(t, "erin@clinic.com")
	store := &countingStore{Store: sb.store}
	h := tenantServer(store)

	code, body := get(t, h, token(t, id, "erin@clinic.com", ""))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{"user": id, "org": meta["org_id"].(string), "source": "directory"}, body)

	code, body = get(t, h, token(t, id, "erin@clinic.com", meta["org_id"].(string)))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "claim", body["source"])

	assert.EqualValues(t, 0, store.provisions.Load())
	assert.Equal(t, 1, count(t, sb.db, "organizations"))
}

// TestSignupTriggerIgnoresShadowingFunctions: the trigger runs as its owner
// (SECURITY DEFINER), so a role that may create functions in the tables'
// schema or in the auth schema must not get its own code run by it. More
// specific overloads of the built-ins the trigger calls, and an exact copy
// of one, are planted there; the trigger must call the built-ins.
func TestSignupTriggerIgnoresShadowingFunctions(t *testing.T) {
	sb := newSupabase(t)
	for _, schema := range []string{sb.schema, sb.schema + "_auth"} {
		_, err := sb.db.ExecContext(t.Context(), `
			CREATE FUNCTION `+schema+`.split_part(text, text, integer) RETURNS text
				LANGUAGE sql AS $$ SELECT 'hijacked' $$;
			CREATE FUNCTION `+schema+`.jsonb_build_object(text, text, text, text) RETURNS jsonb
				LANGUAGE sql AS $$ SELECT '{"via": "hijacked"}'::jsonb $$;
			CREATE FUNCTION `+schema+`.jsonb_build_object(text, text) RETURNS jsonb
				LANGUAGE sql AS $$ SELECT '{"org_id": "hijacked"}'::jsonb $$;`)
		require.NoError(t, err)
	}

	id, meta := sb.signup(t, "mallory@clinic.com")

	orgID, _ := meta["org_id"].(string)
	got, err := sb.store.OrgForUser(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, got, orgID, "raw_app_meta_data = %v", meta)
	var name, via string
	require.NoError(t, sb.db.QueryRowContext(t.Context(),
		`SELECT o.name, a.details->>'via' FROM organizations o JOIN audit_log a ON a.org_id = o.id`).Scan(&name, &via))
	assert.Equal(t, "mallory's organization", name)
	assert.Equal(t, "signup_trigger", via)
	assert.Empty(t, sb.warnings())
}
