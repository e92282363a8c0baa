package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

const jwtSecret = "test-secret-of-at-least-thirty-two-bytes!"

// token returns a Supabase-shaped HS256 user token for sub, valid for an
// hour from now, carrying org in app_metadata.org_id unless org is "".
func token(t *testing.T, sub, email, org string) string {
	t.Helper()
	now := time.Now()
	appMeta := map[string]any{"provider": "email"}
	if org != "" {
		appMeta["org_id"] = org
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":          sub,
		"email":        email,
		"role":         "authenticated",
		"aud":          "authenticated",
		"iat":          now.Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"app_metadata": appMeta,
	}).SignedString([]byte(jwtSecret))
	require.NoError(t, err)
	return s
}

// countingStore counts the calls that reach the real Store: each is one
// round of database queries.
type countingStore struct {
	*sqlstore.Store
	lookups    atomic.Int64
	provisions atomic.Int64
}

func (c *countingStore) OrgForUser(ctx context.Context, userID string) (string, error) {
	c.lookups.Add(1)
	return c.Store.OrgForUser(ctx, userID)
}

func (c *countingStore) Provision(ctx context.Context, user tenant.Info) (string, error) {
	c.provisions.Add(1)
	return c.Store.Provision(ctx, user)
}

// tenantServer is the tenant middleware on a store, around a handler that
// answers the request's tenant.Info as JSON.
func tenantServer(store interface {
	tenant.Directory
	tenant.Provisioner
}, opts ...tenant.Option) http.Handler {
	opts = append([]tenant.Option{tenant.WithDirectory(store), tenant.WithProvisioner(store)}, opts...)
	v, err := tenant.HS256([]byte(jwtSecret))
	if err != nil {
		panic(err)
	}
	return tenant.Middleware(v, opts...)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, _ := tenant.FromContext(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]string{
				"user": info.UserID, "org": info.OrgID, "source": info.Source.String(),
			})
		}))
}

// get sends one request with the bearer token to h and returns the status
// and the decoded tenant.
func get(t *testing.T, h http.Handler, tok string) (int, map[string]string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/calls", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]string
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	}
	return rec.Code, body
}

func TestMiddlewareResolvesStaleToken(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		store := newStore(t, db)
		org, err := store.Provision(t.Context(), tenant.Info{UserID: "user-1", Email: "ada@clinic.com"})
		require.NoError(t, err)
		h := tenantServer(store)

		// The token predates the organisation: no org claim.
		code, body := get(t, h, token(t, "user-1", "ada@clinic.com", ""))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, map[string]string{"user": "user-1", "org": org, "source": "directory"}, body)

		// A token that carries the org is taken at its word.
		code, body = get(t, h, token(t, "user-1", "ada@clinic.com", org))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "claim", body["source"])
		assert.Equal(t, 1, count(t, db, "organizations"))
	})
}

func TestMiddlewareProvisionsNewUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		store := newStore(t, db)
		h := tenantServer(store)

		code, body := get(t, h, token(t, "new-user", "grace@clinic.com", ""))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "provisioned", body["source"])
		assert.NotEmpty(t, body["org"])

		got, err := store.OrgForUser(t.Context(), "new-user")
		require.NoError(t, err)
		assert.Equal(t, body["org"], got)

		// Another server instance (an empty cache) finds it in the database.
		code, again := get(t, tenantServer(store), token(t, "new-user", "grace@clinic.com", ""))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, map[string]string{"user": "new-user", "org": got, "source": "directory"}, again)
		assert.Equal(t, 1, count(t, db, "organizations"))
		assert.Equal(t, 1, count(t, db, "audit_log"))
	})
}

// TestMiddlewareConcurrentFirstRequests sends 50 concurrent first requests
// of one new user, spread over 5 middleware instances (5 server replicas,
// each with its own cache), so that the database, not only the
// middleware's request merging, has to settle the race.
func TestMiddlewareConcurrentFirstRequests(t *testing.T) {
	const replicas, requests = 5, 50
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		store := newStore(t, db)
		servers := make([]http.Handler, replicas)
		for i := range servers {
			servers[i] = tenantServer(store)
		}
		tok := token(t, "rush-user", "hopper@clinic.com", "")

		codes := make([]int, requests)
		orgs := make([]string, requests)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() {
				<-start
				var body map[string]string
				codes[i], body = get(t, servers[i%replicas], tok)
				orgs[i] = body["org"]
			})
		}
		close(start)
		wg.Wait()

		for i := range requests {
			require.Equal(t, http.StatusOK, codes[i], "request %d", i)
			assert.Equal(t, orgs[0], orgs[i], "request %d", i)
		}
		assert.NotEmpty(t, orgs[0])
		assert.Equal(t, 1, count(t, db, "organizations"))
		assert.Equal(t, 1, count(t, db, "profiles"))
		assert.Equal(t, 1, count(t, db, "audit_log"))
	})
}

// TestMiddlewareQueryCount checks the target of issue 5: after the first
// request of a stale token, zero database queries until the cache TTL
// expires. The clock is synctest's.
func TestMiddlewareQueryCount(t *testing.T) {
	const ttl = time.Minute
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		store := &countingStore{Store: newStore(t, db)}
		org, err := store.Store.Provision(t.Context(), tenant.Info{UserID: "stale-user"})
		require.NoError(t, err)

		synctest.Test(t, func(t *testing.T) {
			h := tenantServer(store, tenant.WithCacheTTL(ttl))
			tok := token(t, "stale-user", "", "")

			code, body := get(t, h, tok)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, org, body["org"])
			require.EqualValues(t, 1, store.lookups.Load(), "first request")

			for range 100 {
				time.Sleep(ttl / 200)
				code, body := get(t, h, tok)
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, "directory", body["source"])
			}
			assert.EqualValues(t, 1, store.lookups.Load(), "within the TTL")

			time.Sleep(ttl) // past the TTL of the first lookup
			code, _ = get(t, h, tok)
			require.Equal(t, http.StatusOK, code)
			assert.EqualValues(t, 2, store.lookups.Load(), "after the TTL")
			assert.EqualValues(t, 0, store.provisions.Load())
		})
	})
}
