package tenant_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voxanne/resilience/tenant"
)

func ExampleMiddleware() {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")

	// A Supabase-style user token whose org is in app_metadata.
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":          "7d1c0b5e-user",
		"email":        "ada@example.com",
		"role":         "authenticated",
		"aud":          "authenticated",
		"exp":          time.Now().Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"org_id": "clinic-42"},
	}).SignedString(secret)

	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenant.FromContext(r.Context())
		fmt.Fprintf(w, "user %s in org %s (from %s)", t.UserID, t.OrgID, t.Source)
	})
	v, err := tenant.HS256(secret) // an error for a secret under 32 bytes
	if err != nil {
		panic(err)
	}
	h := tenant.Middleware(v)(app)

	r := httptest.NewRequest(http.MethodGet, "/appointments", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())

	// Without a token: 401 and a JSON error.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/appointments", nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 200 user 7d1c0b5e-user in org clinic-42 (from claim)
	// 401 {"error":"authentication required","code":"missing_token"}
}

// profiles is a Directory backed by a map; tenant/sqlstore provides the SQL one.
type profiles map[string]string

func (p profiles) OrgForUser(_ context.Context, user string) (string, error) {
	if org, ok := p[user]; ok {
		return org, nil
	}
	return "", tenant.ErrNoOrg
}

func ExampleWithDirectory() {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	// A token issued before the user's organisation existed: no org claim.
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":  "7d1c0b5e-user",
		"role": "authenticated",
		"aud":  "authenticated",
		"exp":  time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)

	v, err := tenant.HS256(secret)
	if err != nil {
		panic(err)
	}
	h := tenant.Middleware(v,
		tenant.WithDirectory(profiles{"7d1c0b5e-user": "clinic-42"}),
		tenant.WithCacheTTL(5*time.Minute),
	)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenant.FromContext(r.Context())
		fmt.Println(t.OrgID, t.Source)
	}))

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output: clinic-42 directory
}

func ExampleJWKS() {
	// Supabase projects with asymmetric signing keys publish them here.
	v, err := tenant.JWKS("https://example.supabase.co/auth/v1/.well-known/jwks.json",
		tenant.WithIssuer("https://example.supabase.co/auth/v1"),
		tenant.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}),
	)
	if err != nil {
		panic(err)
	}
	_ = tenant.Middleware(v) // nothing is fetched until the first request
	fmt.Println("ready")
	// Output: ready
}
