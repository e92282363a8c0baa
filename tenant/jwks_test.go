package tenant_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// jwksServer serves a replaceable JWK set and counts the fetches.
type jwksServer struct {
	mu      sync.Mutex
	doc     []byte
	status  int
	delay   time.Duration
	fetches atomic.Int32
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	doc, status := s.doc, s.status
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

func (s *jwksServer) set(doc []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.status = doc, status
}

// inMemory is a RoundTripper calling a handler directly: no sockets, so
// that it runs inside a synctest bubble.
type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	m.h.ServeHTTP(w, r)
	return w.Result(), nil
}

func TestJWKSOverHTTP(t *testing.T) {
	k := testKeys()
	srv := &jwksServer{doc: jwkSet(rsaJWK("rsa-1", &k.rsa.PublicKey), ecJWK("ec-1", &k.ec.PublicKey))}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	v, err := tenant.JWKS(ts.URL+"/auth/v1/.well-known/jwks.json", tenant.WithHTTPClient(ts.Client()))
	require.NoError(t, err)
	require.Zero(t, srv.fetches.Load(), "JWKS must not fetch before the first Verify")

	tests := []struct {
		name   string
		method jwt.SigningMethod
		kid    string
		key    any
	}{
		{"RS256", jwt.SigningMethodRS256, "rsa-1", k.rsa},
		{"ES256", jwt.SigningMethodES256, "ec-1", k.ec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), sign(t, tt.method, tt.kid, validClaims(), tt.key))
			require.NoError(t, err)
			require.Equal(t, "user-1", c.Subject)
			require.Equal(t, "org-1", c.OrgID)
		})
	}
	require.Equal(t, int32(1), srv.fetches.Load(), "keys are cached")

	// Through the middleware, too.
	next := &recorder{}
	w := do(tenant.Middleware(v)(next), bearer(sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "org-1", next.info().OrgID)
	require.Equal(t, int32(1), srv.fetches.Load())
}

func TestJWKSUnknownKidRefetchIsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		rotated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey))}
		v, err := tenant.JWKS("https://auth.example/jwks.json",
			tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}),
			tenant.WithRefreshInterval(time.Minute))
		require.NoError(t, err)

		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec))
		require.NoError(t, err)
		require.Equal(t, int32(1), srv.fetches.Load())

		// The issuer rotates to ec-2; we have not seen it yet. Within the
		// refresh interval, unknown kids are refused without fetching.
		srv.set(jwkSet(ecJWK("ec-1", &k.ec.PublicKey), ecJWK("ec-2", &rotated.PublicKey)), 0)
		next := sign(t, jwt.SigningMethodES256, "ec-2", validClaims(), rotated)
		for range 20 {
			_, err = v.Verify(t.Context(), next)
			require.ErrorIs(t, err, tenant.ErrUnknownKey)
		}
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "random-kid", validClaims(), rotated))
		require.ErrorIs(t, err, tenant.ErrUnknownKey)
		require.Equal(t, int32(1), srv.fetches.Load())

		// After the interval, one unknown kid triggers one refetch.
		time.Sleep(time.Minute)
		_, err = v.Verify(t.Context(), next)
		require.NoError(t, err)
		require.Equal(t, int32(2), srv.fetches.Load())

		// A kid that is still unknown right after is refused without a fetch.
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "ec-3", validClaims(), rotated))
		require.ErrorIs(t, err, tenant.ErrUnknownKey)
		require.Equal(t, int32(2), srv.fetches.Load())
	})
}

func TestJWKSConcurrentRefetchesMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey)), delay: 50 * time.Millisecond}
		v, err := tenant.JWKS("https://auth.example/jwks.json", tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)
		var wg sync.WaitGroup
		var ok atomic.Int32
		for range 50 {
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), token); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(50), ok.Load())
		require.Equal(t, int32(1), srv.fetches.Load())
	})
}

func TestJWKSKeySetTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey))}
		v, err := tenant.JWKS("https://auth.example/jwks.json",
			tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}), tenant.WithKeySetTTL(time.Hour))
		require.NoError(t, err)
		verify := func() error {
			_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec))
			return err
		}
		require.NoError(t, verify())
		time.Sleep(time.Hour)

		// The key server fails: stale keys stay in use.
		srv.set(nil, http.StatusBadGateway)
		require.NoError(t, verify())
		synctest.Wait() // the refresh runs in the background
		require.Equal(t, int32(2), srv.fetches.Load())
		require.NoError(t, verify())

		// The key was removed: once refetched, it is refused.
		srv.set(jwkSet(ecJWK("ec-other", &k.ec.PublicKey)), 0)
		time.Sleep(10 * time.Second) // past the retry delay after a failure
		require.NoError(t, verify(), "a stale key serves while the set is refreshed")
		synctest.Wait()
		require.Equal(t, int32(3), srv.fetches.Load())
		require.ErrorIs(t, verify(), tenant.ErrUnknownKey)
		require.Equal(t, int32(3), srv.fetches.Load())
	})
}

func TestJWKSUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{status: http.StatusInternalServerError}
		v, err := tenant.JWKS("https://auth.example/jwks.json", tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)

		next := &recorder{}
		h := tenant.Middleware(v)(next)
		w := do(h, bearer(token))
		requireRefused(t, w, http.StatusServiceUnavailable, tenant.CodeUnavailable)
		_, err = v.Verify(t.Context(), token)
		require.ErrorIs(t, err, tenant.ErrUnavailable)
		var ue *tenant.UnavailableError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, "jwks", ue.Op)
		require.Equal(t, int32(1), srv.fetches.Load(), "a failed fetch is retried after a short delay, not at once")

		// The key server recovers.
		srv.set(jwkSet(ecJWK("ec-1", &k.ec.PublicKey)), 0)
		time.Sleep(5 * time.Second)
		w = do(h, bearer(token))
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, int32(1), next.calls.Load())
	})
}

func TestJWKSInvalidConfig(t *testing.T) {
	_, err := tenant.JWKS("not a url")
	require.Error(t, err)
	_, err = tenant.JWKS("ftp://example.com/jwks.json")
	require.Error(t, err)
	_, err = tenant.JWKS("/relative/jwks.json")
	require.Error(t, err)
}

func TestStaticJWKS(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	offCurve := ecJWK("bad", &k.ec.PublicKey)
	offCurve["y"] = offCurve["x"]

	tests := []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"rsa and ec", jwkSet(rsaJWK("a", &k.rsa.PublicKey), ecJWK("b", &k.ec.PublicKey)), true},
		{"unsupported keys skipped", jwkSet(map[string]any{"kty": "oct", "k": "c2VjcmV0"}, ecJWK("b", &k.ec.PublicKey)), true},
		{"encryption keys skipped", jwkSet(map[string]any{"kty": "oct", "k": "c2VjcmV0"}, map[string]any{"use": "enc", "kty": "EC"}), false},
		{"only a 1024-bit rsa key", jwkSet(rsaJWK("small", &small.PublicKey)), false},
		{"only an off-curve point", jwkSet(offCurve), false},
		{"P-384", jwkSet(map[string]any{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}), false},
		{"empty", []byte(`{"keys":[]}`), false},
		{"not json", []byte(`<html>`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenant.StaticJWKS(tt.doc)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}

	t.Run("token without kid", func(t *testing.T) {
		v, err := tenant.StaticJWKS(jwkSet(rsaJWK("a", &k.rsa.PublicKey), ecJWK("b", &k.ec.PublicKey)))
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "", validClaims(), k.rsa))
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "zzz", validClaims(), k.rsa))
		require.ErrorIs(t, err, tenant.ErrUnknownKey)
	})
}

// TestUnavailableVerifierRetryAfter: WithRetryAfter applies to every 503,
// the key set's included, unless the error names its own wait.
func TestUnavailableVerifierRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &jwksServer{status: http.StatusBadGateway}
		v, err := tenant.JWKS("https://auth.example/jwks.json", tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), testKeys().ec)
		h := tenant.Middleware(v, tenant.WithRetryAfter(30*time.Second))(&recorder{})
		for range 2 { // the first fetch fails, then its error is kept
			w := do(h, bearer(token))
			requireRefused(t, w, http.StatusServiceUnavailable, tenant.CodeUnavailable)
			require.Equal(t, "30", w.Header().Get("Retry-After"))
		}
	})

	own := verifierFunc(func(context.Context, string) (tenant.Claims, error) {
		return tenant.Claims{}, &tenant.UnavailableError{Op: "jwks", Err: errors.New("down"), After: 2 * time.Minute}
	})
	w := do(tenant.Middleware(own, tenant.WithRetryAfter(30*time.Second))(&recorder{}), bearer("x"))
	require.Equal(t, "120", w.Header().Get("Retry-After"))
}

// slowTransport answers after delay, or fails when the request's context is
// done first, as a real transport does.
type slowTransport struct {
	inMemory
	delay time.Duration
}

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-time.After(s.delay):
		return s.inMemory.RoundTrip(r)
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func TestJWKSCallerGivingUpDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey))}
		v, err := tenant.JWKS("https://auth.example/jwks.json",
			tenant.WithHTTPClient(&http.Client{Transport: slowTransport{inMemory{srv}, time.Second}}))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)

		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		var impatient, patient error
		var wg sync.WaitGroup
		wg.Go(func() { _, impatient = v.Verify(ctx, token) })
		synctest.Wait()
		wg.Go(func() { _, patient = v.Verify(t.Context(), token) })
		wg.Wait()
		require.ErrorIs(t, impatient, tenant.ErrUnavailable)
		require.NoError(t, patient)
		require.Equal(t, int32(1), srv.fetches.Load())
	})
}
