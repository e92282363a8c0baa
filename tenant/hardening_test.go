package tenant_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// The regression tests of the attack review (issue 16) for tenant.

func TestRetryAfterHugeIsClamped(t *testing.T) {
	for _, after := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Second + 2, 1000 * time.Hour} {
		w := httptest.NewRecorder()
		tenant.WriteError(w, &tenant.UnavailableError{Op: "jwks", Err: errors.New("down"), After: after})
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		require.Equal(t, "3600", w.Header().Get("Retry-After"), "after %v", after)
	}
}

// TestControlCharactersInClaimsAre401: a signed token whose sub or email
// holds a NUL (which PostgreSQL refuses in text, answering every request
// with 503) or another control character is refused as a bad token, before
// any lookup.
func TestControlCharactersInClaimsAre401(t *testing.T) {
	tests := map[string]string{
		"NUL in sub":            `"sub":"user-1\u0000"`,
		"newline in sub":        `"sub":"user-1\nadmin"`,
		"NUL in email":          `"email":"ada@example.com\u0000"`,
		"escape in email":       `"email":"\u001b[31mada@example.com"`,
		"DEL in sub":            `"sub":"user-1` + "\x7f" + `"`,
		"C1 control in sub":     `"sub":"user-1\u0085"`,
		"invalid UTF-8 in sub":  `"sub":"user-1` + "\xff" + `"`,
		"lone surrogate in sub": `"sub":"user-1\ud800"`,
		"NUL in role":           `"role":"authenticated\u0000"`,
		"NUL in org":            `"app_metadata":{"org_id":"org-1\u0000"}`,
	}
	for name, member := range tests {
		t.Run(name, func(t *testing.T) {
			dir := newDirectory(map[string]string{"user-1": "org-1", "user-1\x00": "org-1"})
			h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(&recorder{})
			w := do(h, bearer(signRawHS(hsHeader, rawPayload(member), testSecret)))
			requireRefused(t, w, http.StatusUnauthorized, tenant.CodeInvalidToken)
			require.Zero(t, dir.calls.Load(), "refused before any lookup")
		})
	}
}

// TestControlCharactersFromCustomVerifiersAre401: the middleware checks
// what a Verifier of the user's returns, too.
func TestControlCharactersFromCustomVerifiersAre401(t *testing.T) {
	for _, claims := range []tenant.Claims{{Subject: "user-1\x00"}, {Subject: "user-1", OrgID: "org\n1"}, {Subject: "\xff"}} {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		v := verifierFunc(func(context.Context, string) (tenant.Claims, error) { return claims, nil })
		next := &recorder{}
		w := do(tenant.Middleware(v, tenant.WithDirectory(dir))(next), bearer("x"))
		requireRefused(t, w, http.StatusUnauthorized, tenant.CodeInvalidToken)
		require.Zero(t, dir.calls.Load()+next.calls.Load())
	}
}

// TestClaimNamesMatchExactly: encoding/json matches names without regard
// to case, so APP_METADATA (or App_Metadata...) was read as app_metadata.
// Claim names are case-sensitive (RFC 7519 §4).
func TestClaimNamesMatchExactly(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		reason  error  // nil: accepted
		org     string // when accepted
	}{
		{"APP_METADATA is not app_metadata", rawPayload(`"APP_METADATA":{"org_id":"org-evil"}`), nil, ""},
		{"App_Metadata is not app_metadata", rawPayload(`"App_Metadata":{"org_id":"org-evil"}`), nil, ""},
		{"ORG_ID is not org_id", rawPayload(`"app_metadata":{"ORG_ID":"org-evil"}`), nil, ""},
		{"escaped name is the name", rawPayload(`"app_\u006detadata":{"org_id":"org-1"}`), nil, "org-1"},
		{"SUB is not sub", rawPayload(`-sub`, `"SUB":"user-1"`), tenant.ErrTokenClaimMissing, ""},
		{"Exp is not exp", rawPayload(`-exp`, `"Exp":1893456000`), tenant.ErrTokenClaimMissing, ""},
		{"AUD is not aud", rawPayload(`-aud`, `"AUD":"authenticated"`), tenant.ErrTokenClaimMissing, ""},
	}
	v := hs256(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), signRawHS(hsHeader, tt.payload, testSecret))
			if tt.reason != nil {
				require.ErrorIs(t, err, tt.reason)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.org, got.OrgID)
		})
	}
}

// TestCritHeaderRefused: a crit header names extensions the verifier must
// understand (RFC 7515 §4.1.11); it understands none.
func TestCritHeaderRefused(t *testing.T) {
	v := hs256(t)
	for _, header := range []string{
		`{"alg":"HS256","typ":"JWT","crit":["exp-ext"],"exp-ext":1}`,
		`{"alg":"HS256","crit":["b64"],"b64":false}`,
		`{"alg":"HS256","crit":[]}`,
	} {
		_, err := v.Verify(t.Context(), signRawHS(header, rawPayload(`"app_metadata":{"org_id":"org-1"}`), testSecret))
		require.ErrorIs(t, err, tenant.ErrTokenMalformed, header)
	}
}

// TestExpAsStringRefused: a NumericDate is a JSON number (RFC 7519 §2);
// golang-jwt read "exp":"1893456000" as a date.
func TestExpAsStringRefused(t *testing.T) {
	v := hs256(t)
	now := time.Now().Unix()
	for _, member := range []string{
		`"exp":"` + strconv.FormatInt(now+3600, 10) + `"`,
		`"nbf":"` + strconv.FormatInt(now-60, 10) + `"`,
		`"iat":"` + strconv.FormatInt(now-60, 10) + `"`,
	} {
		_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(member), testSecret))
		require.ErrorIs(t, err, tenant.ErrTokenMalformed, member)
	}
}

// TestHS256RefusesShortSecret: RFC 7518 §3.2 requires a key of at least
// the hash size, 32 bytes, for HS256; a 1-byte secret was accepted.
func TestHS256RefusesShortSecret(t *testing.T) {
	for _, secret := range []string{"", "k", testSecret[:31]} {
		v, err := tenant.HS256([]byte(secret))
		require.ErrorIs(t, err, tenant.ErrShortSecret, "a %d-byte secret", len(secret))
		require.ErrorContains(t, err, "RFC 7518")
		require.Nil(t, v)
	}
	v, err := tenant.HS256([]byte(testSecret[:32]))
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(), testSecret[:32]))
	require.NoError(t, err)
}
