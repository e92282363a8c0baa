package tenant_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

func TestHS256Claims(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	token := signHS(t, claimsWith(func(c jwt.MapClaims) { c["exp"] = exp.Unix() }), testSecret)
	got, err := hs256(t).Verify(t.Context(), token)
	require.NoError(t, err)
	require.Equal(t, tenant.Claims{
		Subject:   "user-1",
		Email:     "ada@example.com",
		Role:      "authenticated",
		OrgID:     "org-1",
		Issuer:    "https://example.supabase.co/auth/v1",
		ExpiresAt: exp,
	}, got)
}

func TestVerifyOptions(t *testing.T) {
	tests := []struct {
		name   string
		opts   []tenant.VerifyOption
		edit   func(jwt.MapClaims)
		org    string
		reason error // nil: accepted
	}{
		{name: "defaults", org: "org-1"},
		{name: "no org claim", edit: noOrg, org: ""},
		{name: "null app_metadata", edit: func(c jwt.MapClaims) { c["app_metadata"] = nil }},
		{name: "app_metadata not an object", edit: func(c jwt.MapClaims) { c["app_metadata"] = "org-1" }, reason: tenant.ErrTokenMalformed},
		{name: "audience list", edit: func(c jwt.MapClaims) { c["aud"] = []string{"x", "authenticated"} }, org: "org-1"},
		{name: "audience missing", edit: func(c jwt.MapClaims) { delete(c, "aud") }, reason: tenant.ErrTokenClaimMissing},
		{name: "audience check off", opts: []tenant.VerifyOption{tenant.WithAudience("")}, edit: func(c jwt.MapClaims) { delete(c, "aud") }, org: "org-1"},
		{name: "custom audience", opts: []tenant.VerifyOption{tenant.WithAudience("api")}, reason: tenant.ErrTokenAudience},
		{name: "issuer matches", opts: []tenant.VerifyOption{tenant.WithIssuer("https://example.supabase.co/auth/v1")}, org: "org-1"},
		{name: "issuer missing", opts: []tenant.VerifyOption{tenant.WithIssuer("https://example.supabase.co/auth/v1")}, edit: func(c jwt.MapClaims) { delete(c, "iss") }, reason: tenant.ErrTokenClaimMissing},
		{name: "expired within default leeway", edit: func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }, org: "org-1"},
		{name: "expired without leeway", opts: []tenant.VerifyOption{tenant.WithLeeway(0)}, edit: func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }, reason: tenant.ErrTokenExpired},
		{name: "nbf within leeway", edit: func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(10 * time.Second).Unix() }, org: "org-1"},
		{name: "nbf beyond leeway", edit: func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Minute).Unix() }, reason: tenant.ErrTokenNotYetValid},
		{name: "exp not a number", edit: func(c jwt.MapClaims) { c["exp"] = "tomorrow" }, reason: tenant.ErrTokenMalformed},
		{name: "role missing", edit: func(c jwt.MapClaims) { delete(c, "role") }, reason: tenant.ErrTokenRole},
		{name: "roles off", opts: []tenant.VerifyOption{tenant.WithRoles()}, edit: func(c jwt.MapClaims) { delete(c, "role") }, org: "org-1"},
		{name: "extra role", opts: []tenant.VerifyOption{tenant.WithRoles("authenticated", "staff")}, edit: func(c jwt.MapClaims) { c["role"] = "staff" }, org: "org-1"},
		{name: "empty sub", edit: func(c jwt.MapClaims) { c["sub"] = "" }, reason: tenant.ErrTokenClaimMissing},
		{name: "top-level org path", opts: []tenant.VerifyOption{tenant.WithOrgClaim("tenant")}, edit: func(c jwt.MapClaims) { c["tenant"] = "org-9" }, org: "org-9"},
		{name: "deep org path", opts: []tenant.VerifyOption{tenant.WithOrgClaim("app_metadata.tenant.id")}, edit: func(c jwt.MapClaims) {
			c["app_metadata"] = map[string]any{"org_id": "org-1", "tenant": map[string]any{"id": "org-7"}}
		}, org: "org-7"},
		{name: "custom path missing", opts: []tenant.VerifyOption{tenant.WithOrgClaim("app_metadata.tenant.id")}, org: ""},
		{name: "custom path null", opts: []tenant.VerifyOption{tenant.WithOrgClaim("app_metadata.tenant.id")}, edit: func(c jwt.MapClaims) {
			c["app_metadata"] = map[string]any{"tenant": nil}
		}, org: ""},
		{name: "custom path not a string", opts: []tenant.VerifyOption{tenant.WithOrgClaim("tenant")}, edit: func(c jwt.MapClaims) { c["tenant"] = 42 }, reason: tenant.ErrTokenMalformed},
		{name: "custom path through a string", opts: []tenant.VerifyOption{tenant.WithOrgClaim("tenant.id")}, edit: func(c jwt.MapClaims) { c["tenant"] = "x" }, reason: tenant.ErrTokenMalformed},
		{name: "user_metadata path is only what it is configured to be", edit: func(c jwt.MapClaims) {
			noOrg(c)
			c["user_metadata"] = map[string]any{"org_id": "org-evil"}
		}, org: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := signHS(t, claimsWith(tt.edit), testSecret)
			got, err := hs256(t, tt.opts...).Verify(t.Context(), token)
			if tt.reason != nil {
				require.ErrorIs(t, err, tenant.ErrInvalidToken)
				require.ErrorIs(t, err, tt.reason, "got %v", err)
				var te *tenant.TokenError
				require.ErrorAs(t, err, &te)
				require.NotContains(t, err.Error(), token)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.org, got.OrgID)
			require.Equal(t, "user-1", got.Subject)
		})
	}
}

func TestHS256CopiesSecret(t *testing.T) {
	secret := []byte(testSecret)
	v, err := tenant.HS256(secret)
	require.NoError(t, err)
	secret[0] ^= 0xff
	_, err = v.Verify(t.Context(), signHS(t, validClaims(), testSecret))
	require.NoError(t, err)
}

func TestTokenErrorUnwrapsToCause(t *testing.T) {
	token := signHS(t, claimsWith(func(c jwt.MapClaims) { delete(c, "sub") }), testSecret)
	_, err := hs256(t).Verify(t.Context(), token)
	var te *tenant.TokenError
	require.ErrorAs(t, err, &te)
	require.Equal(t, tenant.ErrTokenClaimMissing, te.Reason)
	require.EqualError(t, errors.Unwrap(err), "sub claim is required")
	require.False(t, errors.Is(err, tenant.ErrUnavailable))
}

func TestOrgClaimDisabled(t *testing.T) {
	got, err := hs256(t, tenant.WithOrgClaim("")).Verify(t.Context(), signHS(t, validClaims(), testSecret))
	require.NoError(t, err)
	require.Empty(t, got.OrgID)
	require.Equal(t, "user-1", got.Subject)
}

func TestOrgClaimFromUserMetadataIsAConfigError(t *testing.T) {
	for _, path := range []string{"user_metadata.org_id", "User_Metadata.org", "user_metadata"} {
		t.Run(path, func(t *testing.T) {
			_, err := tenant.HS256([]byte(testSecret), tenant.WithOrgClaim(path))
			require.Error(t, err)
			_, err = tenant.JWKS("https://auth.example/jwks.json", tenant.WithOrgClaim(path))
			require.Error(t, err)
			k := testKeys()
			_, err = tenant.StaticJWKS(jwkSet(ecJWK("a", &k.ec.PublicKey)), tenant.WithOrgClaim(path))
			require.Error(t, err)
		})
	}
}
