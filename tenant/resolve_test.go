package tenant_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

var errDBDown = errors.New("dial tcp 10.0.0.5:5432: connection refused")

func TestResolveFromClaim(t *testing.T) {
	dir := newDirectory(map[string]string{"user-1": "org-other"})
	next := &recorder{}
	h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(next)
	w := do(h, bearer(signHS(t, validClaims(), testSecret)))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, tenant.Info{
		UserID: "user-1", OrgID: "org-1", Email: "ada@example.com", Role: "authenticated", Source: tenant.SourceClaim,
	}, next.info())
	require.Zero(t, dir.calls.Load(), "a claimed org needs no lookup without membership checks")
}

func TestResolveFromDirectoryIsCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		next := &recorder{}
		h := tenant.Middleware(hs256(t),
			tenant.WithDirectory(dir), tenant.WithCacheTTL(time.Minute))(next)
		stale := signHS(t, claimsWith(noOrg), testSecret)

		for range 10 {
			w := do(h, bearer(stale))
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "org-1", next.info().OrgID)
			require.Equal(t, tenant.SourceDirectory, next.info().Source)
		}
		require.Equal(t, int32(1), dir.calls.Load(), "after the first request, no lookups until the TTL expires")

		time.Sleep(59 * time.Second)
		do(h, bearer(stale))
		require.Equal(t, int32(1), dir.calls.Load())

		time.Sleep(time.Second)
		dir.set("user-1", "org-2") // moved; seen after expiry
		do(h, bearer(stale))
		require.Equal(t, int32(2), dir.calls.Load())
		require.Equal(t, "org-2", next.info().OrgID)
	})
}

func TestResolveConcurrentLookupsMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		dir.delay = 20 * time.Millisecond
		next := &recorder{}
		h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(next)
		stale := signHS(t, claimsWith(noOrg), testSecret)

		var wg sync.WaitGroup
		codes := make([]int, 50)
		for i := range codes {
			wg.Go(func() { codes[i] = do(h, bearer(stale)).Code })
		}
		wg.Wait()
		for _, c := range codes {
			require.Equal(t, http.StatusOK, c)
		}
		require.Equal(t, int32(1), dir.calls.Load())
		require.Equal(t, int32(50), next.calls.Load())
	})
}

func TestResolveProvisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := newDirectory(nil)
		dir.delay = 10 * time.Millisecond
		prov := &provisioner{dir: dir}
		next := &recorder{}
		h := tenant.Middleware(hs256(t),
			tenant.WithDirectory(dir), tenant.WithProvisioner(prov))(next)
		fresh := signHS(t, claimsWith(noOrg), testSecret)

		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { do(h, bearer(fresh)) })
		}
		wg.Wait()
		require.Equal(t, int32(50), next.calls.Load())
		require.Equal(t, int32(1), prov.calls.Load(), "50 concurrent first requests: one provisioning")
		require.Equal(t, int32(1), prov.made.Load())
		require.Equal(t, "org-of-user-1", next.info().OrgID)
		require.Equal(t, tenant.SourceProvisioned, next.info().Source)
		require.Equal(t, "ada@example.com", next.info().Email)

		// Cached: no lookup, no provisioning.
		do(h, bearer(fresh))
		require.Equal(t, int32(1), dir.calls.Load())
		require.Equal(t, int32(1), prov.calls.Load())
		require.Equal(t, tenant.SourceProvisioned, next.info().Source)

		// After the TTL, the directory knows the user.
		time.Sleep(tenant.DefaultCacheTTL)
		do(h, bearer(fresh))
		require.Equal(t, tenant.SourceDirectory, next.info().Source)
		require.Equal(t, int32(1), prov.calls.Load())
	})
}

func TestResolveProvisionerOnly(t *testing.T) {
	prov := &provisioner{dir: newDirectory(nil)}
	next := &recorder{}
	h := tenant.Middleware(hs256(t), tenant.WithProvisioner(prov))(next)
	w := do(h, bearer(signHS(t, claimsWith(noOrg), testSecret)))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, tenant.SourceProvisioned, next.info().Source)
}

func TestResolveRefusals(t *testing.T) {
	tests := []struct {
		name   string
		dir    func() *directory
		prov   func(*directory) tenant.Provisioner
		status int
		code   string
	}{
		{name: "no directory, no provisioner", status: http.StatusForbidden, code: tenant.CodeNoOrganization},
		{name: "no org, no provisioner", dir: func() *directory { return newDirectory(nil) }, status: http.StatusForbidden, code: tenant.CodeNoOrganization},
		{name: "directory down", dir: func() *directory {
			d := newDirectory(nil)
			d.err = errDBDown
			return d
		}, status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
		{name: "directory down, provisioner set", dir: func() *directory {
			d := newDirectory(nil)
			d.err = errDBDown
			return d
		}, prov: func(d *directory) tenant.Provisioner { return &provisioner{dir: d} }, status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
		{name: "provisioner down", dir: func() *directory { return newDirectory(nil) },
			prov:   func(d *directory) tenant.Provisioner { return &provisioner{dir: d, err: errDBDown} },
			status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
		{name: "provisioner refuses", dir: func() *directory { return newDirectory(nil) },
			prov:   func(d *directory) tenant.Provisioner { return &provisioner{dir: d, err: tenant.ErrNoOrg} },
			status: http.StatusForbidden, code: tenant.CodeNoOrganization},
		{name: "directory panics", dir: func() *directory {
			d := newDirectory(nil)
			d.panic = true
			return d
		}, status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []tenant.Option
			var dir *directory
			if tt.dir != nil {
				dir = tt.dir()
				opts = append(opts, tenant.WithDirectory(dir))
			}
			if tt.prov != nil {
				opts = append(opts, tenant.WithProvisioner(tt.prov(dir)))
			}
			next := &recorder{}
			w := do(tenant.Middleware(hs256(t), opts...)(next), bearer(signHS(t, claimsWith(noOrg), testSecret)))
			require.Zero(t, next.calls.Load())
			requireRefused(t, w, tt.status, tt.code)
			require.NotContains(t, w.Body.String(), "10.0.0.5", "dependency errors are not shown to clients")
		})
	}
}

func TestResolveErrorsAreNotCached(t *testing.T) {
	dir := newDirectory(map[string]string{"user-1": "org-1"})
	dir.setErr(errDBDown)
	next := &recorder{}
	h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithRetryAfter(30*time.Second))(next)
	stale := signHS(t, claimsWith(noOrg), testSecret)

	w := do(h, bearer(stale))
	requireRefused(t, w, http.StatusServiceUnavailable, tenant.CodeUnavailable)
	require.Equal(t, "30", w.Header().Get("Retry-After"))

	dir.setErr(nil)
	w = do(h, bearer(stale))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, int32(2), dir.calls.Load())

	// "No organisation" is not cached either: a new membership is seen at once.
	other := signHS(t, claimsWith(func(c jwt.MapClaims) { noOrg(c); c["sub"] = "user-2" }), testSecret)
	requireRefused(t, do(h, bearer(other)), http.StatusForbidden, tenant.CodeNoOrganization)
	dir.set("user-2", "org-2")
	require.Equal(t, http.StatusOK, do(h, bearer(other)).Code)
	require.Equal(t, "org-2", next.info().OrgID)
}

func TestResolveCallerGivingUpDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		dir.delay = time.Second
		next := &recorder{}
		h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(next)
		stale := signHS(t, claimsWith(noOrg), testSecret)

		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		var impatient, patient int
		var wg sync.WaitGroup
		wg.Go(func() { impatient = do(h, bearer(stale).WithContext(ctx)).Code })
		synctest.Wait()
		wg.Go(func() { patient = do(h, bearer(stale)).Code })
		wg.Wait()
		require.Equal(t, http.StatusServiceUnavailable, impatient)
		require.Equal(t, http.StatusOK, patient)
		require.Equal(t, int32(1), dir.calls.Load())
	})
}

func TestResolveLookupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &ctxDirectory{}
		h := tenant.Middleware(hs256(t),
			tenant.WithDirectory(slow), tenant.WithLookupTimeout(2*time.Second))(&recorder{})
		start := time.Now()
		w := do(h, bearer(signHS(t, claimsWith(noOrg), testSecret)))
		requireRefused(t, w, http.StatusServiceUnavailable, tenant.CodeUnavailable)
		require.Equal(t, 2*time.Second, time.Since(start))
	})
}

// ctxDirectory blocks until its context is done.
type ctxDirectory struct{}

func (ctxDirectory) OrgForUser(ctx context.Context, _ string) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

func TestMembershipCheck(t *testing.T) {
	tests := []struct {
		name   string
		orgs   map[string]string
		err    error
		status int
		code   string
	}{
		{name: "member", orgs: map[string]string{"user-1": "org-1"}, status: http.StatusOK},
		{name: "moved to another org", orgs: map[string]string{"user-1": "org-2"}, status: http.StatusForbidden, code: tenant.CodeNotMember},
		{name: "removed from every org", status: http.StatusForbidden, code: tenant.CodeNotMember},
		{name: "directory down", err: errDBDown, status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDirectory(tt.orgs)
			dir.err = tt.err
			prov := &provisioner{dir: dir}
			next := &recorder{}
			h := tenant.Middleware(hs256(t),
				tenant.WithDirectory(dir), tenant.WithProvisioner(prov), tenant.WithMembershipCheck(true))(next)
			token := signHS(t, validClaims(), testSecret)
			for range 3 {
				w := do(h, bearer(token))
				if tt.status == http.StatusOK {
					require.Equal(t, http.StatusOK, w.Code)
					require.Equal(t, tenant.SourceClaim, next.info().Source)
					continue
				}
				require.Zero(t, next.calls.Load())
				requireRefused(t, w, tt.status, tt.code)
			}
			require.Zero(t, prov.calls.Load(), "a membership check never provisions")
			if tt.orgs["user-1"] != "" {
				require.Equal(t, int32(1), dir.calls.Load(), "membership answers are cached")
			}
		})
	}

	t.Run("off by default", func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-2"})
		w := do(tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(&recorder{}), bearer(signHS(t, validClaims(), testSecret)))
		require.Equal(t, http.StatusOK, w.Code)
		require.Zero(t, dir.calls.Load())
	})
}
