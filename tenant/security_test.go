package tenant_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// TestSecurity is the table of forged, broken and untrusted requests of
// issue 5. None may reach the handler. Bad tokens get 401. A valid token
// whose only org is in a place the user controls (user_metadata, a header,
// the query, the body) is not a bad token: that org is ignored, so the
// request is a valid token without an org, which, with nothing to resolve it
// (no Directory, no Provisioner), gets 403 no_organization. With a
// Directory, such a request gets the Directory's org, never the forged one
// (TestOrgNeverFromUntrustedPlaces).
func TestSecurity(t *testing.T) {
	k := testKeys()
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	hs := hs256(t, tenant.WithIssuer("https://example.supabase.co/auth/v1"))
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
	// withClaims is a request whose HS256 token has validClaims changed by edit.
	withClaims := func(edit func(jwt.MapClaims)) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return bearer(signHS(t, claimsWith(edit), testSecret)) }
	}
	signedWithHeader := func(t *testing.T, header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, validClaims())
		for name, v := range header {
			tok.Header[name] = v
		}
		s, err := tok.SignedString(attacker)
		require.NoError(t, err)
		return s
	}

	tests := []struct {
		name     string
		verifier tenant.Verifier
		req      func(t *testing.T) *http.Request
		reason   error // why Middleware refuses the request (errors.Is)
		// status is 0 for 401, with the code that follows from reason, or
		// 403, with no_organization.
		status int
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
			name:     "HS256 token signed with the public key of an RS256 verifier",
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
			name:     "attacker's key embedded in a jwk header, known kid",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(signedWithHeader(t, map[string]any{"kid": "ec-1", "jwk": ecJWK("ec-1", &attacker.PublicKey)}))
			},
			reason: tenant.ErrTokenSignature,
		},
		{
			name:     "attacker's key set in a jku header, new kid",
			verifier: rs,
			req: func(t *testing.T) *http.Request {
				return bearer(signedWithHeader(t, map[string]any{"kid": "evil-1", "jku": "https://evil.example/jwks.json"}))
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
			req: withClaims(func(c jwt.MapClaims) {
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = time.Now().Add(-time.Hour).Unix()
			}),
			reason: tenant.ErrTokenExpired,
		},
		{
			name:     "not yet valid",
			verifier: hs,
			req: withClaims(func(c jwt.MapClaims) {
				c["nbf"] = time.Now().Add(time.Hour).Unix()
			}),
			reason: tenant.ErrTokenNotYetValid,
		},
		{
			name:     "issued in the future",
			verifier: hs,
			req: withClaims(func(c jwt.MapClaims) {
				c["iat"] = time.Now().Add(time.Hour).Unix()
			}),
			reason: tenant.ErrTokenNotYetValid,
		},
		{
			name:     "missing exp",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { delete(c, "exp") }),
			reason:   tenant.ErrTokenClaimMissing,
		},
		{
			name:     "missing sub",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { delete(c, "sub") }),
			reason:   tenant.ErrTokenClaimMissing,
		},
		{
			name:     "anon role: Supabase anon key, no sub",
			verifier: hs256(t, tenant.WithAudience("")),
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
			req:      withClaims(func(c jwt.MapClaims) { c["role"] = "anon" }),
			reason:   tenant.ErrTokenRole,
		},
		{
			name:     "service_role",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { c["role"] = "service_role" }),
			reason:   tenant.ErrTokenRole,
		},
		{
			name:     "wrong audience",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { c["aud"] = "other-app" }),
			reason:   tenant.ErrTokenAudience,
		},
		{
			name:     "wrong audience list",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { c["aud"] = []string{"other-app", "Authenticated"} }),
			reason:   tenant.ErrTokenAudience,
		},
		{
			name:     "wrong issuer",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/auth/v1" }),
			reason:   tenant.ErrTokenIssuer,
		},
		{
			name:     "org claim of the wrong type",
			verifier: hs,
			req: withClaims(func(c jwt.MapClaims) {
				c["app_metadata"] = map[string]any{"org_id": []string{"org-1", "org-2"}}
			}),
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "org only in user_metadata: ignored, so no org: 403",
			verifier: hs,
			req: withClaims(func(c jwt.MapClaims) {
				noOrg(c)
				c["user_metadata"] = map[string]any{"org_id": "org-evil"}
			}),
			reason: tenant.ErrNoOrg,
			status: http.StatusForbidden,
		},
		{
			name:     "org at the top level of the claims: ignored, so no org: 403",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { noOrg(c); c["org_id"] = "org-evil" }),
			reason:   tenant.ErrNoOrg,
			status:   http.StatusForbidden,
		},
		{
			name:     "org in an X-Org-Id header, the query and the body: ignored, so no org: 403",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/appointments?org_id=org-evil", strings.NewReader(`{"org_id":"org-evil"}`))
				r.Header.Set("Authorization", "Bearer "+signHS(t, claimsWith(noOrg), testSecret))
				r.Header.Set("X-Org-Id", "org-evil")
				return r
			},
			reason: tenant.ErrNoOrg,
			status: http.StatusForbidden,
		},
		{
			name:     "org in an X-Org-Id header, no token: 401",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/?org_id=org-evil", nil)
				r.Header.Set("X-Org-Id", "org-evil")
				return r
			},
			reason: tenant.ErrNoToken,
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
			reason: tenant.ErrTokenTooLarge,
		},
		{
			name:     "1 MB valid-looking token",
			verifier: hs,
			req:      withClaims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 1<<20) }),
			reason:   tenant.ErrTokenTooLarge,
		},
		{
			name:     "basic auth",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.SetBasicAuth("user-1", testSecret)
				return r
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "empty bearer",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				return bearer("   ")
			},
			reason: tenant.ErrTokenMalformed,
		},
		{
			name:     "two Authorization headers",
			verifier: hs,
			req: func(t *testing.T) *http.Request {
				r := bearer(valid)
				r.Header.Add("Authorization", "Bearer "+valid)
				return r
			},
			reason: tenant.ErrTokenMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No Directory and no Provisioner: a token accepted by mistake
			// reaches the handler if it carries an org, and gets 403
			// instead of 401 if it does not; either fails the test.
			var refused error
			next := &recorder{}
			h := tenant.Middleware(tt.verifier, tenant.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
				refused = err
				tenant.WriteError(w, err)
			}))(next)
			r := tt.req(t)
			var w *httptest.ResponseRecorder
			require.NotPanics(t, func() { w = do(h, r) })

			require.Zero(t, next.calls.Load(), "handler reached with %+v", next.info())
			require.ErrorIs(t, refused, tt.reason, "refused with %v", refused)
			status, code := tt.status, tenant.CodeNoOrganization
			if status == 0 {
				status, code = http.StatusUnauthorized, tenant.CodeInvalidToken
				switch tt.reason {
				case tenant.ErrTokenExpired:
					code = tenant.CodeTokenExpired
				case tenant.ErrNoToken:
					code = tenant.CodeMissingToken
				}
			}
			requireRefused(t, w, status, code)

			token, isBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !isBearer || len(r.Header.Values("Authorization")) != 1 {
				return
			}
			claims, err := tt.verifier.Verify(t.Context(), token)
			if status == http.StatusUnauthorized {
				require.ErrorIs(t, err, tenant.ErrInvalidToken, "Verify refuses it on its own")
				return
			}
			require.NoError(t, err, "the token itself is valid")
			require.Empty(t, claims.OrgID, "and carries no trusted org")
		})
	}
}
