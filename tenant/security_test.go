package tenant_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// TestSecurity is the table of tokens and requests that must be refused
// with 401 before reaching the handler.
func TestSecurity(t *testing.T) {
	k := testKeys()
	hs := tenant.HS256([]byte(testSecret), tenant.WithIssuer("https://example.supabase.co/auth/v1"))
	rs, err := tenant.StaticJWKS(jwkSet(rsaJWK("rsa-1", &k.rsa.PublicKey), ecJWK("ec-1", &k.ec.PublicKey)))
	require.NoError(t, err)

	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := signHS(t, validClaims(), testSecret)
	parts := strings.Split(valid, ".")
	evil := claimsWith(func(c jwt.MapClaims) { c["app_metadata"] = map[string]any{"org_id": "org-evil"} })
	evilPayload, err := jwt.NewWithClaims(jwt.SigningMethodHS256, evil).SigningString()
	require.NoError(t, err)

	tests := []struct {
		name     string
		verifier tenant.Verifier
		req      func(t *testing.T) *http.Request
		reason   error // the reason as seen by Verify; nil when Verify is not reached
	}{
		{
			name:     "alg none",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodNone, "", validClaims(), jwt.UnsafeAllowNoneSignatureType))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "alg none against RS256 verifier",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodNone, "rsa-1", validClaims(), jwt.UnsafeAllowNoneSignatureType))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "HS256 signed with the RS256 verifier's public key",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodHS256, "rsa-1", validClaims(), pubPEM))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "HS256 signed with the raw RSA modulus",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodHS256, "rsa-1", validClaims(), k.rsa.N.Bytes()))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "RS256 token against HS256 verifier",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodRS256, "rsa-1", validClaims(), k.rsa))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "HS512 with the right secret",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodHS512, "", validClaims(), []byte(testSecret)))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "ES256 token naming an RSA kid",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(sign(t, jwt.SigningMethodES256, "rsa-1", validClaims(), k.ec))
			},
			reason: tenant.ErrUnknownKey,
		},
		{
			name:     "wrong secret",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, validClaims(), testSecret+"x"))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "expired",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) {
					c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
					c["exp"] = time.Now().Add(-time.Hour).Unix()
				}), testSecret))
			},
			reason: tenant.ErrTokenExpired,
		},
		{
			name:     "not yet valid",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) {
					c["nbf"] = time.Now().Add(time.Hour).Unix()
				}), testSecret))
			},
			reason: tenant.ErrTokenNotYetValid,
		},
		{
			name:     "issued in the future",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) {
					c["iat"] = time.Now().Add(time.Hour).Unix()
				}), testSecret))
			},
			reason: tenant.ErrTokenNotYetValid,
		},
		{
			name:     "missing exp",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { delete(c, "exp") }), testSecret))
			},
			reason: tenant.ErrTokenClaimMissing,
		},
		{
			name:     "missing sub",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { delete(c, "sub") }), testSecret))
			},
			reason: tenant.ErrTokenClaimMissing,
		},
		{
			name:     "anon key",
			verifier: tenant.HS256([]byte(testSecret), tenant.WithAudience("")),
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, jwt.MapClaims{
					"iss": "supabase", "ref": "example", "role": "anon",
					"iat": time.Now().Unix(), "exp": time.Now().Add(24 * time.Hour).Unix(),
				}, testSecret))
			},
			reason: tenant.ErrTokenClaimMissing,
		},
		{
			name:     "anon role with a sub",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { c["role"] = "anon" }), testSecret))
			},
			reason: tenant.ErrTokenRole,
		},
		{
			name:     "service_role",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { c["role"] = "service_role" }), testSecret))
			},
			reason: tenant.ErrTokenRole,
		},
		{
			name:     "wrong audience",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { c["aud"] = "other-app" }), testSecret))
			},
			reason: tenant.ErrTokenAudience,
		},
		{
			name:     "wrong issuer",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/auth/v1" }), testSecret))
			},
			reason: tenant.ErrTokenIssuer,
		},
		{
			name:     "org claim of the wrong type",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) {
					c["app_metadata"] = map[string]any{"org_id": []string{"org-1", "org-2"}}
				}), testSecret))
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "tampered payload",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(strings.Split(evilPayload, ".")[0] + "." + strings.Split(evilPayload, ".")[1] + "." + parts[2])
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "truncated token",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(valid[:len(valid)-12])
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "two segments",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(parts[0] + "." + parts[1])
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "garbage",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer("\x00\xff not a jwt at all ☃")
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "garbage segments",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":`)) + ".e30.c2ln")
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "1 MB header",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(strings.Repeat("a", 1<<20))
			},
		},
		{
			name:     "1 MB valid-looking token",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer(signHS(t, claimsWith(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 1<<20) }), testSecret))
			},
		},
		{
			name:     "basic auth",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.SetBasicAuth("user-1", testSecret)
				return r
			},
		},
		{
			name:     "empty bearer",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer("   ")
			},
		},
		{
			name:     "two Authorization headers",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := bearer(valid)
				r.Header.Add("Authorization", "Bearer "+valid)
				return r
			},
		},
		{
			name:     "no token, org in X-Org-Id header",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/?org_id=org-evil", nil)
				r.Header.Set("X-Org-Id", "org-evil")
				return r
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &recorder{}
			h := tenant.Middleware(tt.verifier, tenant.WithDirectory(newDirectory(map[string]string{"user-1": "org-1"})))(next)
			r := tt.req(t)
			var w *httptest.ResponseRecorder
			require.NotPanics(t, func() { w = do(h, r) })
			require.Zero(t, next.calls.Load(), "handler reached")
			require.Equal(t, http.StatusUnauthorized, w.Code, "body: %s", w.Body.String())
			code := tenant.CodeInvalidToken
			switch {
			case tt.reason == tenant.ErrTokenExpired:
				code = tenant.CodeTokenExpired
			case r.Header.Get("Authorization") == "":
				code = tenant.CodeMissingToken
			}
			requireRefused(t, w, http.StatusUnauthorized, code)

			if tt.reason != nil {
				token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				_, err := tt.verifier.Verify(t.Context(), token)
				require.ErrorIs(t, err, tenant.ErrInvalidToken)
				require.ErrorIs(t, err, tt.reason, "got %v", err)
			}
		})
	}
}

// TestOrgNeverFromUntrustedPlaces: an org in user_metadata, a header, the
// query or the body is ignored. Such requests are valid tokens without an
// org: refused with 403 when nothing can resolve them, resolved through
// the Directory otherwise, and never given the attacker's org.
func TestOrgNeverFromUntrustedPlaces(t *testing.T) {
	verifier := tenant.HS256([]byte(testSecret))
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
