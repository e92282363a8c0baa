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
// no control characters and are the claims encoding/json reads in it (so
// that no other parser of the same token sees another user or org), and
// every refusal is a *TokenError.
func FuzzVerifyPayload(f *testing.F) {
	f.Add(hsHeader, rawPayload(`"app_metadata":{"org_id":"org-1"}`))
	f.Add(hsHeader, rawPayload(`"app_metadata":{"tenant":{"id":"org-2"}}`, `"aud":["x","authenticated"]`))
	f.Add(`{"alg":"HS256","kid":"k"}`, rawPayload(`"exp":1.5e12`, `"is_anonymous":false`))
	f.Add(`{"alg":"HS256","crit":["b64"]}`, `{"sub":"\ud83d\ude00","exp":"1"}`)
	f.Add(hsHeader, `{"sub":"a","sub":"b"}`)
	f.Add(hsHeader, rawPayload(`"app_metadata":{"org_id":"a"}`, `"app_metadata":{"org_id":"b"}`))
	f.Add(hsHeader, rawPayload(`"app_metadata":{"org_id":"a","org_id":"b"}`))
	f.Add(hsHeader, rawPayload(`"\u0073ub":"user-2"`, `"App_Metadata":{"org_id":"x"}`, `"app_metadata":{"org_id":"org-1"}`))
	verifiers := []struct {
		v       tenant.Verifier
		orgPath []string
	}{
		{hs256(f), []string{"app_metadata", "org_id"}},
		{hs256(f, tenant.WithOrgClaim("app_metadata.tenant.id"), tenant.WithRoles()), []string{"app_metadata", "tenant", "id"}},
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		token := signRawHS(header, payload, testSecret)
		for _, tc := range verifiers {
			c, err := tc.v.Verify(t.Context(), token)
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
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(payload), &m), "payload %q", payload)
			text := func(path ...string) string {
				var v any = m
				for _, k := range path {
					obj, _ := v.(map[string]any)
					v = obj[k]
				}
				s, _ := v.(string)
				return s
			}
			require.Equal(t, text("sub"), c.Subject, "payload %q", payload)
			require.Equal(t, text("email"), c.Email, "payload %q", payload)
			require.Equal(t, text("role"), c.Role, "payload %q", payload)
			require.Equal(t, text("iss"), c.Issuer, "payload %q", payload)
			require.Equal(t, text(tc.orgPath...), c.OrgID, "payload %q", payload)
		}
	})
}
