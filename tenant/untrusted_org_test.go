package tenant_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// TestOrgNeverFromUntrustedPlaces: an org in user_metadata, a header, the
// query or the body is ignored. Such requests are valid tokens without an
// org: refused with 403 when nothing can resolve them, resolved through
// the Directory otherwise, and never given the attacker's org.
func TestOrgNeverFromUntrustedPlaces(t *testing.T) {
	verifier := hs256(t)
	userMeta := signHS(t, claimsWith(func(c jwt.MapClaims) {
		noOrg(c)
		c["user_metadata"] = map[string]any{"org_id": "org-evil"}
		c["org_id"] = "org-evil"
	}), testSecret)
	withClaim := signHS(t, validClaims(), testSecret)

	requests := map[string]func() *http.Request{
		"org only in user_metadata": func() *http.Request { return bearer(userMeta) },
		"org in X-Org-Id header, query and body": func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/?org_id=org-evil", strings.NewReader(`{"org_id":"org-evil"}`))
			r.Header.Set("Authorization", "Bearer "+signHS(t, claimsWith(noOrg), testSecret))
			r.Header.Set("X-Org-Id", "org-evil")
			return r
		},
	}
	for name, req := range requests {
		t.Run(name+"/no directory", func(t *testing.T) {
			next := &recorder{}
			w := do(tenant.Middleware(verifier)(next), req())
			require.Zero(t, next.calls.Load(), "handler reached")
			requireRefused(t, w, http.StatusForbidden, tenant.CodeNoOrganization)
		})
		t.Run(name+"/directory", func(t *testing.T) {
			next := &recorder{}
			dir := newDirectory(map[string]string{"user-1": "org-real"})
			w := do(tenant.Middleware(verifier, tenant.WithDirectory(dir))(next), req())
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "org-real", next.info().OrgID)
			require.Equal(t, tenant.SourceDirectory, next.info().Source)
		})
	}
	t.Run("claim wins over X-Org-Id", func(t *testing.T) {
		next := &recorder{}
		r := bearer(withClaim)
		r.Header.Set("X-Org-Id", "org-evil")
		w := do(tenant.Middleware(verifier)(next), r)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "org-1", next.info().OrgID)
		require.Equal(t, tenant.SourceClaim, next.info().Source)
	})
}
