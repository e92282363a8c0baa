package tenant_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

const testSecret = "super-secret-jwt-token-with-at-least-32-characters-long"

// validClaims returns Supabase-shaped claims for user-1 in org-1, valid for an hour.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":          "user-1",
		"email":        "ada@example.com",
		"role":         "authenticated",
		"aud":          "authenticated",
		"iss":          "https://example.supabase.co/auth/v1",
		"iat":          now.Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"provider": "email", "org_id": "org-1"},
	}
}

// claimsWith returns validClaims changed by edit.
func claimsWith(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := validClaims()
	if edit != nil {
		edit(c)
	}
	return c
}

// noOrg removes the org claim.
func noOrg(c jwt.MapClaims) { c["app_metadata"] = map[string]any{"provider": "email"} }

func signHS(t testing.TB, c jwt.MapClaims, secret string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	require.NoError(t, err)
	return s
}

func sign(t testing.TB, m jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// keys holds one RSA and one EC key, generated once per test binary.
type keys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

var testKeys = sync.OnceValue(func() keys {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return keys{rsa: r, ec: e}
})

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]any {
	point, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]any{
		"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": b64u(point[1:33]), "y": b64u(point[33:]),
	}
}

func jwkSet(ks ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		panic(err)
	}
	return b
}

// recorder is a handler that records whether and with which tenant it ran.
type recorder struct {
	calls atomic.Int32
	mu    sync.Mutex
	last  tenant.Info
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := tenant.FromContext(r.Context())
	if !ok {
		http.Error(w, "no tenant", http.StatusInternalServerError)
		return
	}
	h.calls.Add(1)
	h.mu.Lock()
	h.last = info
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *recorder) info() tenant.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/appointments", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// requireRefused checks a JSON error answer with status and code.
func requireRefused(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, w.Code, "body: %s", w.Body.String())
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var body errorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "body: %s", w.Body.String())
	require.Equal(t, code, body.Code)
	require.NotEmpty(t, body.Error)
	if status == http.StatusUnauthorized {
		require.Regexp(t, `^Bearer`, w.Header().Get("WWW-Authenticate"))
	}
	if status == http.StatusServiceUnavailable {
		require.NotEmpty(t, w.Header().Get("Retry-After"))
	}
}

// directory is an in-memory Directory counting its lookups. Like a database
// driver, it gives up when its context is done.
type directory struct {
	mu    sync.Mutex
	orgs  map[string]string
	err   error
	delay time.Duration
	calls atomic.Int32
	panic bool
}

func newDirectory(orgs map[string]string) *directory {
	if orgs == nil {
		orgs = map[string]string{}
	}
	return &directory{orgs: orgs}
}

func (d *directory) OrgForUser(ctx context.Context, user string) (string, error) {
	d.calls.Add(1)
	if d.delay > 0 {
		select {
		case <-time.After(d.delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if d.panic {
		panic("directory exploded")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return "", d.err
	}
	org, ok := d.orgs[user]
	if !ok {
		return "", tenant.ErrNoOrg
	}
	return org, nil
}

func (d *directory) set(user, org string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.orgs[user] = org
}

func (d *directory) setErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// provisioner is an in-memory Provisioner that links users in dir.
type provisioner struct {
	dir   *directory
	err   error
	calls atomic.Int32
	made  atomic.Int32
}

func (p *provisioner) Provision(ctx context.Context, u tenant.Info) (string, error) {
	p.calls.Add(1)
	if p.err != nil {
		return "", p.err
	}
	p.dir.mu.Lock()
	defer p.dir.mu.Unlock()
	if org, ok := p.dir.orgs[u.UserID]; ok {
		return org, nil
	}
	p.made.Add(1)
	org := "org-of-" + u.UserID
	p.dir.orgs[u.UserID] = org
	return org, nil
}

// signRawHS signs the raw JSON header and payload with HS256 as they are,
// for tokens that golang-jwt would not produce (duplicate or case-variant
// names, escapes, odd types).
func signRawHS(header, payload, secret string) string {
	in := b64u([]byte(header)) + "." + b64u([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(in))
	return in + "." + b64u(mac.Sum(nil))
}

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

// rawPayload returns the JSON object of a valid token for user-1 without
// an org. Each member of over ("name":value, as written) replaces the
// default member of that name or is appended; "-name" drops the default.
func rawPayload(over ...string) string {
	now := time.Now()
	members := []string{
		`"sub":"user-1"`, `"email":"ada@example.com"`, `"role":"authenticated"`, `"aud":"authenticated"`,
		fmt.Sprintf(`"iat":%d`, now.Unix()), fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix()),
	}
	for _, o := range over {
		name, _, _ := strings.Cut(o, ":")
		drop := strings.HasPrefix(name, "-")
		if drop {
			name = `"` + name[1:] + `"`
		}
		i := slices.IndexFunc(members, func(m string) bool { return strings.HasPrefix(m, name+":") })
		switch {
		case i >= 0 && drop:
			members = slices.Delete(members, i, i+1)
		case i >= 0:
			members[i] = o
		case !drop:
			members = append(members, o)
		}
	}
	return "{" + strings.Join(members, ",") + "}"
}

// hs256 returns the HS256 verifier of testSecret.
func hs256(t testing.TB, opts ...tenant.VerifyOption) tenant.Verifier {
	t.Helper()
	v, err := tenant.HS256([]byte(testSecret), opts...)
	require.NoError(t, err)
	return v
}
