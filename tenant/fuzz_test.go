package tenant_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

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
		tenant.Middleware(tenant.HS256([]byte(testSecret)), tenant.WithCookie("sb"))(next),
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
