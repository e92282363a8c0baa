package tenant_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// Tokens shaped as Supabase Auth mints them (issue 14).

// TestAnonymousSignInsRefusedByDefault: a token of Supabase's anonymous
// sign-ins (anyone can get one without an account) passed as a tenant.
func TestAnonymousSignInsRefusedByDefault(t *testing.T) {
	anon := signRawHS(hsHeader, rawPayload(`"is_anonymous":true`, `"email":""`,
		`"app_metadata":{"provider":"anonymous","providers":["anonymous"]}`), testSecret)
	dir := newDirectory(nil)
	prov := &provisioner{dir: dir}
	next := &recorder{}
	h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithProvisioner(prov))(next)

	w := do(h, bearer(anon))
	requireRefused(t, w, http.StatusForbidden, tenant.CodeAnonymous)
	require.JSONEq(t, `{"error":"anonymous users are not accepted","code":"anonymous_user"}`, w.Body.String())
	require.Zero(t, next.calls.Load())
	require.Zero(t, dir.calls.Load(), "no lookup")
	require.Zero(t, prov.calls.Load(), "no organisation made")

	// is_anonymous false (or absent, or null) is a regular user.
	for _, member := range []string{`"is_anonymous":false`, `"is_anonymous":null`, `-is_anonymous`} {
		w = do(h, bearer(signRawHS(hsHeader, rawPayload(member), testSecret)))
		require.Equal(t, http.StatusOK, w.Code, member)
		require.False(t, next.info().Anonymous)
	}
	// Anything else is not a boolean: malformed.
	w = do(h, bearer(signRawHS(hsHeader, rawPayload(`"is_anonymous":"true"`), testSecret)))
	requireRefused(t, w, http.StatusUnauthorized, tenant.CodeInvalidToken)
}

func TestWithAnonymousAcceptsAnonymousSignIns(t *testing.T) {
	anon := signRawHS(hsHeader, rawPayload(`"is_anonymous":true`, `"app_metadata":{"org_id":"org-demo"}`), testSecret)
	next := &recorder{}
	h := tenant.Middleware(hs256(t), tenant.WithAnonymous(true))(next)
	w := do(h, bearer(anon))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, tenant.Info{UserID: "user-1", OrgID: "org-demo", Email: "ada@example.com", Role: "authenticated",
		Source: tenant.SourceClaim, Anonymous: true}, next.info())

	c, err := hs256(t).Verify(t.Context(), anon)
	require.NoError(t, err, "verifiers accept them: the policy is the middleware's")
	require.True(t, c.Anonymous)
}

// TestOrgAtAnotherPathLogsOnce: a custom access token hook that puts org_id
// at the top level was ignored silently, and such users got a second
// organisation from the Provisioner. The middleware says so, once.
func TestOrgAtAnotherPathLogsOnce(t *testing.T) {
	tests := []struct {
		name    string
		opts    []tenant.VerifyOption
		members []string
		foundAt string // "" when nothing is logged
	}{
		{"hook org at the top level, default claim", nil, []string{`"org_id":"org-hook"`}, "org_id"},
		{"org in app_metadata, claim configured at the top level", []tenant.VerifyOption{tenant.WithOrgClaim("org_id")},
			[]string{`"app_metadata":{"org_id":"org-trigger"}`}, "app_metadata.org_id"},
		{"org at the configured path too", nil, []string{`"org_id":"org-hook"`, `"app_metadata":{"org_id":"org-1"}`}, ""},
		{"org claim disabled", []tenant.VerifyOption{tenant.WithOrgClaim("")}, []string{`"org_id":"org-hook"`}, ""},
		{"empty org at the top level", nil, []string{`"org_id":""`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			dir := newDirectory(map[string]string{"user-1": "org-dir"})
			h := tenant.Middleware(hs256(t, tt.opts...), tenant.WithDirectory(dir), tenant.WithLogger(logger))(&recorder{})
			token := signRawHS(hsHeader, rawPayload(tt.members...), testSecret)
			for range 3 {
				require.Equal(t, http.StatusOK, do(h, bearer(token)).Code)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if tt.foundAt == "" {
				require.Empty(t, strings.TrimSpace(buf.String()))
				return
			}
			require.Len(t, lines, 1, "logged once: %s", buf.String())
			var entry map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &entry))
			require.Equal(t, "WARN", entry["level"])
			require.Equal(t, tt.foundAt, entry["found_at"])
			require.Contains(t, entry["msg"], "WithOrgClaim")
			require.NotContains(t, buf.String(), "org-hook", "no IDs in the log")
			require.NotContains(t, buf.String(), "org-trigger")
		})
	}
}
