package tenant_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

func TestMiddlewareTokenSources(t *testing.T) {
	token := signHS(t, validClaims(), testSecret)
	tests := []struct {
		name   string
		opts   []tenant.Option
		req    func() *http.Request
		status int
		code   string
	}{
		{name: "bearer", req: func() *http.Request { return bearer(token) }, status: http.StatusOK},
		{name: "lower-case scheme", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "bearer "+token)
			return r
		}, status: http.StatusOK},
		{name: "no token", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) },
			status: http.StatusUnauthorized, code: tenant.CodeMissingToken},
		{name: "cookie ignored by default", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "sb-access-token", Value: token})
			return r
		}, status: http.StatusUnauthorized, code: tenant.CodeMissingToken},
		{name: "cookie", opts: []tenant.Option{tenant.WithCookie("sb-access-token")}, req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "sb-access-token", Value: token})
			return r
		}, status: http.StatusOK},
		{name: "header wins over cookie", opts: []tenant.Option{tenant.WithCookie("sb-access-token")}, req: func() *http.Request {
			r := bearer("garbage")
			r.AddCookie(&http.Cookie{Name: "sb-access-token", Value: token})
			return r
		}, status: http.StatusUnauthorized, code: tenant.CodeInvalidToken},
		{name: "oversized cookie", opts: []tenant.Option{tenant.WithCookie("sb-access-token")}, req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "sb-access-token", Value: strings.Repeat("a", 9<<10)})
			return r
		}, status: http.StatusUnauthorized, code: tenant.CodeInvalidToken},
		{name: "token over a custom cap", opts: []tenant.Option{tenant.WithMaxTokenSize(64)}, req: func() *http.Request { return bearer(token) },
			status: http.StatusUnauthorized, code: tenant.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &recorder{}
			w := do(tenant.Middleware(hs256(t), tt.opts...)(next), tt.req())
			if tt.status == http.StatusOK {
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				require.Equal(t, "org-1", next.info().OrgID)
				return
			}
			require.Zero(t, next.calls.Load())
			requireRefused(t, w, tt.status, tt.code)
		})
	}
}

func TestMiddlewareMissingTokenHeader(t *testing.T) {
	w := do(tenant.Middleware(hs256(t))(&recorder{}), httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))
	require.JSONEq(t, `{"error":"authentication required","code":"missing_token"}`, w.Body.String())
}

func TestMiddlewareExpiredAnswer(t *testing.T) {
	token := signHS(t, claimsWith(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), testSecret)
	w := do(tenant.Middleware(hs256(t))(&recorder{}), bearer(token))
	require.Equal(t, `Bearer error="invalid_token", error_description="token expired"`, w.Header().Get("WWW-Authenticate"))
	require.JSONEq(t, `{"error":"token expired","code":"token_expired"}`, w.Body.String())
}

// verifierFunc adapts a function to tenant.Verifier.
type verifierFunc func(ctx context.Context, token string) (tenant.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (tenant.Claims, error) {
	return f(ctx, token)
}

func TestMiddlewareCustomVerifier(t *testing.T) {
	tests := []struct {
		name   string
		claims tenant.Claims
		err    error
		status int
		code   string
	}{
		{name: "ok", claims: tenant.Claims{Subject: "u", OrgID: "o"}, status: http.StatusOK},
		{name: "plain error", err: errors.New("nope"), status: http.StatusUnauthorized, code: tenant.CodeInvalidToken},
		{name: "unavailable", err: &tenant.UnavailableError{Op: "jwks", Err: errors.New("down")}, status: http.StatusServiceUnavailable, code: tenant.CodeUnavailable},
		{name: "no subject", claims: tenant.Claims{OrgID: "o"}, status: http.StatusUnauthorized, code: tenant.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := verifierFunc(func(context.Context, string) (tenant.Claims, error) { return tt.claims, tt.err })
			next := &recorder{}
			w := do(tenant.Middleware(v)(next), bearer("anything"))
			if tt.status == http.StatusOK {
				require.Equal(t, http.StatusOK, w.Code)
				return
			}
			require.Zero(t, next.calls.Load())
			requireRefused(t, w, tt.status, tt.code)
		})
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	var got error
	h := tenant.Middleware(hs256(t),
		tenant.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			http.Redirect(w, r, "/login", http.StatusFound)
		}))(&recorder{})
	w := do(h, bearer("garbage"))
	require.Equal(t, http.StatusFound, w.Code)
	require.ErrorIs(t, got, tenant.ErrTokenMalformed)
	status, code := tenant.StatusOf(got)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, tenant.CodeInvalidToken, code)
}

func TestMiddlewareNeverLogsTokens(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := newDirectory(nil)
	dir.err = errDBDown
	h := tenant.Middleware(hs256(t), tenant.WithLogger(logger), tenant.WithDirectory(dir))(&recorder{})

	expired := signHS(t, claimsWith(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), testSecret)
	wrongKey := signHS(t, validClaims(), "other-secret")
	stale := signHS(t, claimsWith(noOrg), testSecret)
	for _, tok := range []string{expired, wrongKey, stale, "garbage.garbage.garbage"} {
		do(h, bearer(tok))
		require.NotContains(t, buf.String(), tok)
		require.NotContains(t, buf.String(), strings.Split(tok, ".")[2], "not even the signature")
	}
	require.NotContains(t, buf.String(), testSecret)
	require.Contains(t, buf.String(), "level=ERROR", "dependency failures are errors")
	require.Contains(t, buf.String(), "code=token_expired")
}

func TestMiddlewareNilVerifierPanics(t *testing.T) {
	require.Panics(t, func() { tenant.Middleware(nil) })
}

func TestMiddlewareSharesCacheAcrossHandlers(t *testing.T) {
	dir := newDirectory(map[string]string{"user-1": "org-1"})
	mw := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))
	stale := signHS(t, claimsWith(noOrg), testSecret)
	do(mw(&recorder{}), bearer(stale))
	do(mw(&recorder{}), bearer(stale))
	require.Equal(t, int32(1), dir.calls.Load())
}

func TestMiddlewareCacheDisabled(t *testing.T) {
	dir := newDirectory(map[string]string{"user-1": "org-1"})
	h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithCacheTTL(0))(&recorder{})
	stale := signHS(t, claimsWith(noOrg), testSecret)
	for range 3 {
		require.Equal(t, http.StatusOK, do(h, bearer(stale)).Code)
	}
	require.Equal(t, int32(3), dir.calls.Load())
}

func TestMiddlewareCacheSizeBound(t *testing.T) {
	dir := newDirectory(map[string]string{"user-1": "org-1", "user-2": "org-2"})
	h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithCacheSize(1))(&recorder{})
	u1 := signHS(t, claimsWith(noOrg), testSecret)
	u2 := signHS(t, claimsWith(func(c jwt.MapClaims) { noOrg(c); c["sub"] = "user-2" }), testSecret)
	for _, tok := range []string{u1, u1, u2, u2, u1} {
		require.Equal(t, http.StatusOK, do(h, bearer(tok)).Code)
	}
	require.Equal(t, int32(3), dir.calls.Load(), "u1 was evicted by u2")
}

func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{tenant.ErrNoToken, 401, tenant.CodeMissingToken},
		{&tenant.TokenError{Reason: tenant.ErrTokenExpired}, 401, tenant.CodeTokenExpired},
		{&tenant.TokenError{Reason: tenant.ErrTokenAudience}, 401, tenant.CodeInvalidToken},
		{tenant.ErrNoOrg, 403, tenant.CodeNoOrganization},
		{tenant.ErrNotMember, 403, tenant.CodeNotMember},
		{&tenant.UnavailableError{Op: "directory", Err: errDBDown}, 503, tenant.CodeUnavailable},
		{errors.New("other"), 500, tenant.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			status, code := tenant.StatusOf(tt.err)
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.code, code)
			w := httptest.NewRecorder()
			tenant.WriteError(w, tt.err)
			requireRefused(t, w, tt.status, tt.code)
		})
	}
}
