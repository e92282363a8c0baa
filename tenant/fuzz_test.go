package tenant_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// FuzzMiddleware: whatever the Authorization header and cookie, Middleware
// answers without panicking, with a JSON refusal or a verified tenant.
func FuzzMiddleware(f *testing.F) {
	valid := signHS(f, validClaims(), testSecret)
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer " + valid, "Bearer " + valid, "Bearer  " + valid + " ",
		"Bearer " + valid + "." + valid, "Basic dXNlcjpwYXNz", "Bearer \x00\xff", "Bearer a.b.c", "Bearer ...",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer e30.e30.e30", "Bearer eyJhbGciOiJIUzI1NiJ9.bnVsbA.x",
	} {
		f.Add(seed, valid)
	}
	k := testKeys()
	rs, err := tenant.StaticJWKS(jwkSet(rsaJWK("rsa-1", &k.rsa.PublicKey), ecJWK("ec-1", &k.ec.PublicKey)),
		tenant.WithOrgClaim("app_metadata.tenant.id"))
	require.NoError(f, err)
	next := &recorder{}
	handlers := []http.Handler{
		tenant.Middleware(hs256(f), tenant.WithCookie("sb"))(next),
		tenant.Middleware(rs, tenant.WithCookie("sb"), tenant.WithDirectory(newDirectory(nil)))(next),
	}
	f.Fuzz(func(t *testing.T, header, cookie string) {
		for _, h := range handlers {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if header != "" {
				r.Header.Set("Authorization", header)
			}
			r.Header.Set("Cookie", "sb="+cookie)
			w := do(h, r)
			if w.Code == http.StatusOK {
				continue
			}
			require.True(t, slices.Contains([]int{401, 403}, w.Code), "status %d", w.Code)
			var body errorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "body %q", w.Body.String())
			require.NotEmpty(t, body.Code)
		}
	})
}

// FuzzVerifyPayload signs arbitrary header and payload bytes, so that the
// claim decoder, not the signature check, meets them. Verify never panics;
// what it accepts is valid JSON (encoding/json agrees) whose claims hold
// no control characters, and every refusal is a *TokenError.
func FuzzVerifyPayload(f *testing.F) {
	f.Add(hsHeader, rawPayload(`"app_metadata":{"org_id":"org-1"}`))
	f.Add(hsHeader, rawPayload(`"app_metadata":{"tenant":{"id":"org-2"}}`, `"aud":["x","authenticated"]`))
	f.Add(`{"alg":"HS256","kid":"k"}`, rawPayload(`"exp":1.5e12`, `"is_anonymous":false`))
	f.Add(`{"alg":"HS256","crit":["b64"]}`, `{"sub":"\ud83d\ude00","exp":"1"}`)
	f.Add(hsHeader, `{"sub":"a","sub":"b"}`)
	verifiers := []tenant.Verifier{hs256(f), hs256(f, tenant.WithOrgClaim("app_metadata.tenant.id"), tenant.WithRoles())}
	f.Fuzz(func(t *testing.T, header, payload string) {
		token := signRawHS(header, payload, testSecret)
		for _, v := range verifiers {
			c, err := v.Verify(t.Context(), token)
			if err != nil {
				require.ErrorIs(t, err, tenant.ErrInvalidToken)
				continue
			}
			require.True(t, json.Valid([]byte(header)), "header %q", header)
			require.True(t, json.Valid([]byte(payload)), "payload %q", payload)
			require.NotEmpty(t, c.Subject)
			for _, s := range []string{c.Subject, c.Email, c.Role, c.OrgID, c.Issuer} {
				require.True(t, utf8.ValidString(s), "%q", s)
				for _, r := range s {
					require.False(t, unicode.IsControl(r), "%q", s)
				}
			}
		}
	})
}
