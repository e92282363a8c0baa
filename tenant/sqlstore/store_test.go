package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

func TestNewDialect(t *testing.T) {
	t.Run("sqlite detected", func(t *testing.T) {
		s, err := sqlstore.New(openSQLite(t))
		require.NoError(t, err)
		assert.Equal(t, sqlstore.SQLite, s.Dialect())
	})
	t.Run("postgres detected", func(t *testing.T) {
		s, err := sqlstore.New(openPostgres(t).db)
		require.NoError(t, err)
		assert.Equal(t, sqlstore.Postgres, s.Dialect())
	})
	t.Run("explicit dialect wins", func(t *testing.T) {
		s, err := sqlstore.New(openSQLite(t), sqlstore.WithDialect(sqlstore.Postgres))
		require.NoError(t, err)
		assert.Equal(t, sqlstore.Postgres, s.Dialect())
	})
	t.Run("invalid dialect", func(t *testing.T) {
		_, err := sqlstore.New(openSQLite(t), sqlstore.WithDialect(sqlstore.Dialect(42)))
		require.ErrorIs(t, err, sqlstore.ErrUnknownDialect)
	})
	t.Run("nil option", func(t *testing.T) {
		require.NotPanics(t, func() {
			s, err := sqlstore.New(openSQLite(t), nil, sqlstore.WithOrgName(nil))
			require.NoError(t, err)
			assert.Equal(t, sqlstore.SQLite, s.Dialect())
		})
	})
	t.Run("nil db", func(t *testing.T) {
		_, err := sqlstore.New(nil)
		require.Error(t, err)
	})
}

func TestDialectString(t *testing.T) {
	assert.Equal(t, "postgres", sqlstore.Postgres.String())
	assert.Equal(t, "sqlite", sqlstore.SQLite.String())
	assert.Equal(t, "Dialect(9)", sqlstore.Dialect(9).String())
}

func TestDefaultOrgName(t *testing.T) {
	tests := []struct {
		user tenant.Info
		want string
	}{
		{tenant.Info{UserID: "u1", Email: "alice@clinic.com"}, "alice's organization"},
		{tenant.Info{UserID: "u1", Email: "bob"}, "bob's organization"},
		{tenant.Info{UserID: "u1", Email: "@clinic.com"}, "u1's organization"},
		{tenant.Info{UserID: "u1"}, "u1's organization"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sqlstore.DefaultOrgName(tt.user), "%+v", tt.user)
	}
}

func TestOrgForUserUnknown(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		for _, user := range []string{"nobody", ""} {
			org, err := s.OrgForUser(t.Context(), user)
			require.ErrorIs(t, err, tenant.ErrNoOrg)
			assert.Empty(t, org)
		}
	})
}

func TestProvisionThenOrgForUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		ctx := t.Context()
		user := tenant.Info{UserID: "user-1", Email: "alice@clinic.com", Role: "authenticated"}

		org, err := s.Provision(ctx, user)
		require.NoError(t, err)
		require.NotEmpty(t, org)

		got, err := s.OrgForUser(ctx, user.UserID)
		require.NoError(t, err)
		assert.Equal(t, org, got)

		var name string
		require.NoError(t, db.QueryRowContext(ctx,
			"SELECT name FROM organizations WHERE CAST(id AS TEXT) = '"+org+"'").Scan(&name))
		assert.Equal(t, "alice's organization", name)

		var email, role string
		require.NoError(t, db.QueryRowContext(ctx,
			"SELECT email, role FROM profiles WHERE user_id = 'user-1'").Scan(&email, &role))
		assert.Equal(t, user.Email, email)
		assert.Equal(t, user.Role, role)

		var auditOrg, actor, action, details string
		require.NoError(t, db.QueryRowContext(ctx,
			"SELECT CAST(org_id AS TEXT), actor, action, CAST(details AS TEXT) FROM audit_log").
			Scan(&auditOrg, &actor, &action, &details))
		assert.Equal(t, org, auditOrg)
		assert.Equal(t, "user-1", actor)
		assert.Equal(t, sqlstore.AuditOrgCreated, action)
		var d map[string]string
		require.NoError(t, json.Unmarshal([]byte(details), &d))
		assert.Equal(t, map[string]string{"name": "alice's organization", "via": "provision"}, d)
	})
}

func TestProvisionIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		user := tenant.Info{UserID: "user-1", Email: "alice@clinic.com"}
		first, err := s.Provision(t.Context(), user)
		require.NoError(t, err)
		for range 3 {
			again, err := s.Provision(t.Context(), tenant.Info{UserID: "user-1", Email: "changed@else.where"})
			require.NoError(t, err)
			assert.Equal(t, first, again)
		}
		assert.Equal(t, 1, count(t, db, "organizations"))
		assert.Equal(t, 1, count(t, db, "profiles"))
		assert.Equal(t, 1, count(t, db, "audit_log"))
	})
}

func TestProvisionConcurrent(t *testing.T) {
	const callers = 50
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		user := tenant.Info{UserID: "new-user", Email: "carol@clinic.com"}

		orgs := make([]string, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				orgs[i], errs[i] = s.Provision(t.Context(), user)
			})
		}
		close(start)
		wg.Wait()

		for i := range callers {
			require.NoError(t, errs[i], "caller %d", i)
			assert.Equal(t, orgs[0], orgs[i], "caller %d", i)
		}
		assert.NotEmpty(t, orgs[0])
		assert.Equal(t, 1, count(t, db, "organizations"))
		assert.Equal(t, 1, count(t, db, "profiles"))
		assert.Equal(t, 1, count(t, db, "audit_log"))
	})
}

func TestProvisionDifferentUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		const users = 10
		seen := make(map[string]string)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range users {
			wg.Go(func() {
				id := fmt.Sprintf("user-%d", i)
				org, err := s.Provision(t.Context(), tenant.Info{UserID: id})
				assert.NoError(t, err)
				mu.Lock()
				seen[org] = id
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Len(t, seen, users)
		assert.Equal(t, users, count(t, db, "organizations"))
		assert.Equal(t, users, count(t, db, "audit_log"))
	})
}

func TestWithOrgName(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db, sqlstore.WithOrgName(func(u tenant.Info) string { return "Clinic of " + u.UserID }))
		_, err := s.Provision(t.Context(), tenant.Info{UserID: "dr-who"})
		require.NoError(t, err)
		var name string
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT name FROM organizations").Scan(&name))
		assert.Equal(t, "Clinic of dr-who", name)
	})
}

func TestProvisionEmptyUserID(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		_, err := s.Provision(t.Context(), tenant.Info{Email: "x@y.z"})
		require.ErrorIs(t, err, sqlstore.ErrEmptyUserID)
		assert.Equal(t, 0, count(t, db, "organizations"))
	})
}

func TestCanceledContext(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		_, err := s.Provision(t.Context(), tenant.Info{UserID: "known"})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		_, err = s.OrgForUser(ctx, "known")
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, errors.Is(err, tenant.ErrNoOrg))

		_, err = s.Provision(ctx, tenant.Info{UserID: "someone-new"})
		require.ErrorIs(t, err, context.Canceled)

		require.ErrorIs(t, s.Migrate(ctx), context.Canceled)

		assert.Equal(t, 1, count(t, db, "organizations"))
	})
}
