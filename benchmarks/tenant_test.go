package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voxanne/resilience/tenant"
)

// BenchmarkTenant compares the full tenant.Middleware (token extraction,
// HS256 verification, claim checks, Info in the context, next handler) with
// a bare golang-jwt/v5 jwt.Parse of the same token with the same key
// function and validation options. Target (issue 16): middleware at most
// half of jwt-parse (goal: a third), with at most half its allocations.
func BenchmarkTenant(b *testing.B) {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":           "7d1c0b5e-9f3a-4c1e-8a55-2f0d5c7b9e11",
		"email":         "ada@example.com",
		"phone":         "",
		"role":          "authenticated",
		"aud":           "authenticated",
		"iss":           "https://example.supabase.co/auth/v1",
		"iat":           time.Now().Unix(),
		"exp":           time.Now().Add(time.Hour).Unix(),
		"session_id":    "b0c1d2e3-f4a5-4b6c-9d8e-7f6a5b4c3d2e",
		"is_anonymous":  false,
		"aal":           "aal1",
		"app_metadata":  map[string]any{"provider": "email", "providers": []string{"email"}, "org_id": "3f0e9c1a-clinic"},
		"user_metadata": map[string]any{"full_name": "Ada Lovelace"},
	}).SignedString(secret)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("middleware-hs256", func(b *testing.B) {
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t, _ := tenant.FromContext(r.Context()); t.OrgID == "" {
				b.Fatal("no tenant")
			}
		})
		v, err := tenant.HS256(secret)
		if err != nil {
			b.Fatal(err)
		}
		h := tenant.Middleware(v)(ok)
		r := httptest.NewRequest(http.MethodGet, "/appointments", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
		if w.code != 0 {
			b.Fatalf("status %d", w.code)
		}
	})

	b.Run("verify-hs256", func(b *testing.B) {
		v, err := tenant.HS256(secret)
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("jwt-parse", func(b *testing.B) {
		keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
		b.ReportAllocs()
		for b.Loop() {
			t, err := jwt.Parse(token, keyFunc,
				jwt.WithValidMethods([]string{"HS256"}),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithLeeway(tenant.DefaultLeeway),
				jwt.WithAudience(tenant.DefaultAudience),
			)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := t.Claims.(jwt.MapClaims)["app_metadata"].(map[string]any)["org_id"].(string); !ok {
				b.Fatal("no org")
			}
		}
	})
}
