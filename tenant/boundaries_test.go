package tenant_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// Behaviour that a mutation run found unpinned (issue 15): defaults,
// boundaries and the messages of each answer.

func TestDefaultRetryAfter(t *testing.T) {
	dir := newDirectory(nil)
	dir.setErr(errDBDown)
	w := do(tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(&recorder{}), bearer(signHS(t, claimsWith(noOrg), testSecret)))
	requireRefused(t, w, http.StatusServiceUnavailable, tenant.CodeUnavailable)
	require.Equal(t, "5", w.Header().Get("Retry-After"))

	for after, want := range map[time.Duration]string{0: "5", -time.Second: "5", time.Millisecond: "1", time.Second: "1",
		time.Second + 1: "2", time.Hour: "3600", time.Hour + 1: "3600"} {
		w := httptest.NewRecorder()
		tenant.WriteError(w, &tenant.UnavailableError{Op: "directory", Err: errDBDown, After: after})
		require.Equal(t, want, w.Header().Get("Retry-After"), "after %v", after)
	}
}

// TestAnswersOfEachKind: the sentence of each answer, never with the
// package's "tenant: " prefix, never with a dependency's error text.
func TestAnswersOfEachKind(t *testing.T) {
	tests := []struct {
		err    error
		status int
		body   string
		auth   string
	}{
		{tenant.ErrNoToken, 401, `{"error":"authentication required","code":"missing_token"}`, `Bearer`},
		{&tenant.TokenError{Reason: tenant.ErrTokenMalformed, Err: errors.New("secret detail")}, 401,
			`{"error":"token malformed","code":"invalid_token"}`, `Bearer error="invalid_token", error_description="token malformed"`},
		{&tenant.TokenError{Reason: tenant.ErrTokenExpired}, 401,
			`{"error":"token expired","code":"token_expired"}`, `Bearer error="invalid_token", error_description="token expired"`},
		{&tenant.TokenError{Reason: tenant.ErrUnknownKey}, 401,
			`{"error":"token signed by an unknown key","code":"invalid_token"}`, `Bearer error="invalid_token", error_description="token signed by an unknown key"`},
		{&tenant.TokenError{Reason: errors.New("no prefix here")}, 401,
			`{"error":"no prefix here","code":"invalid_token"}`, `Bearer error="invalid_token", error_description="no prefix here"`},
		{tenant.ErrNoOrg, 403, `{"error":"user has no organization","code":"no_organization"}`, ""},
		{tenant.ErrNotMember, 403, `{"error":"user is not a member of the organization in the token","code":"not_member"}`, ""},
		{tenant.ErrAnonymous, 403, `{"error":"anonymous users are not accepted","code":"anonymous_user"}`, ""},
		{&tenant.UnavailableError{Op: "directory", Err: errDBDown}, 503,
			`{"error":"authentication temporarily unavailable, retry later","code":"unavailable"}`, ""},
		{fmt.Errorf("wrapped: %w", errDBDown), 500, `{"error":"internal error","code":"internal"}`, ""},
		{&tenant.TokenError{Reason: errors.New("tenant: ")}, 401,
			`{"error":"tenant: ","code":"invalid_token"}`, `Bearer error="invalid_token", error_description="tenant: "`},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			w := httptest.NewRecorder()
			tenant.WriteError(w, tt.err)
			require.Equal(t, tt.status, w.Code)
			require.Equal(t, tt.body+"\n", w.Body.String())
			require.Equal(t, tt.auth, w.Header().Get("WWW-Authenticate"))
			require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			require.NotContains(t, w.Body.String(), "10.0.0.5")
		})
	}
}

func TestErrorMessages(t *testing.T) {
	te := &tenant.TokenError{Reason: tenant.ErrTokenAudience}
	require.EqualError(t, te, "tenant: token audience not accepted")
	te.Err = errors.New("aud x")
	require.EqualError(t, te, "tenant: token audience not accepted: aud x")
	ue := &tenant.UnavailableError{Op: "jwks", Err: errors.New("down"), After: time.Minute}
	require.EqualError(t, ue, "tenant: jwks unavailable: down")
	require.Equal(t, time.Minute, ue.RetryAfter())
	require.ErrorIs(t, ue, tenant.ErrUnavailable)
	require.False(t, errors.Is(ue, tenant.ErrInvalidToken))
	require.False(t, errors.Is(te, tenant.ErrTokenExpired))
	for s, want := range map[tenant.Source]string{tenant.SourceClaim: "claim", tenant.SourceDirectory: "directory",
		tenant.SourceProvisioned: "provisioned", 0: "unknown", 9: "unknown"} {
		require.Equal(t, want, s.String())
	}
}

// TestJWKSKeysSkipped: keys that must not verify signatures are skipped
// without spoiling the set, and tokens naming them are unknown.
func TestJWKSKeysSkipped(t *testing.T) {
	k := testKeys()
	valid := ecJWK("ec-ok", &k.ec.PublicKey)
	enc := ecJWK("ec-enc", &k.ec.PublicKey)
	enc["use"] = "enc"
	rsaAsES := rsaJWK("rsa-es", &k.rsa.PublicKey)
	rsaAsES["alg"] = "ES256"
	ecAsRS := ecJWK("ec-rs", &k.ec.PublicKey)
	ecAsRS["alg"] = "RS256"
	p384 := map[string]any{"kty": "EC", "kid": "ec-384", "crv": "P-384", "x": b64u(make([]byte, 48)), "y": b64u(make([]byte, 48))}
	noUse := ecJWK("ec-nouse", &k.ec.PublicKey)
	delete(noUse, "use")
	delete(noUse, "alg")
	rsaNoAlg := rsaJWK("rsa-noalg", &k.rsa.PublicKey)
	delete(rsaNoAlg, "alg")

	v, err := tenant.StaticJWKS(jwkSet(enc, rsaAsES, ecAsRS, p384, valid, noUse, rsaNoAlg))
	require.NoError(t, err)
	tests := []struct {
		kid    string
		method jwt.SigningMethod
		key    any
		reason error
	}{
		{"ec-ok", jwt.SigningMethodES256, k.ec, nil},
		{"ec-nouse", jwt.SigningMethodES256, k.ec, nil},
		{"rsa-noalg", jwt.SigningMethodRS256, k.rsa, nil},
		{"ec-enc", jwt.SigningMethodES256, k.ec, tenant.ErrUnknownKey},
		{"rsa-es", jwt.SigningMethodRS256, k.rsa, tenant.ErrUnknownKey},
		{"ec-rs", jwt.SigningMethodES256, k.ec, tenant.ErrUnknownKey},
		{"ec-384", jwt.SigningMethodES256, k.ec, tenant.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.kid, func(t *testing.T) {
			_, err := v.Verify(t.Context(), sign(t, tt.method, tt.kid, validClaims(), tt.key))
			if tt.reason == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.reason)
		})
	}
	for _, doc := range [][]byte{jwkSet(enc), jwkSet(rsaAsES, ecAsRS), jwkSet(p384)} {
		_, err := tenant.StaticJWKS(doc)
		require.ErrorContains(t, err, "no usable RS256 or ES256 key")
	}
}

func TestJWKSRSAExponent(t *testing.T) {
	k := testKeys()
	tests := []struct {
		e  []byte
		ok bool
	}{
		{[]byte{1, 0, 1}, true},
		{[]byte{0, 1, 0, 1}, true},
		{[]byte{3}, true},
		{[]byte{0x7f, 0xff, 0xff, 0xff}, true},
		{[]byte{1}, false},
		{[]byte{2}, false},
		{[]byte{1, 0, 0}, false},
		{[]byte{0x80, 0, 0, 1}, false},
		{[]byte{1, 0, 0, 0, 1}, false},
		{nil, false},
	}
	for _, tt := range tests {
		t.Run(new(big.Int).SetBytes(tt.e).String(), func(t *testing.T) {
			jwk := rsaJWK("r", &k.rsa.PublicKey)
			jwk["e"] = b64u(tt.e)
			_, err := tenant.StaticJWKS(jwkSet(jwk))
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "rsa exponent out of range")
		})
	}
	t.Run("modulus of 2047 bits", func(t *testing.T) {
		jwk := rsaJWK("r", &k.rsa.PublicKey)
		n := new(big.Int).Rsh(k.rsa.N, 1)
		jwk["n"] = b64u(n.Bytes())
		_, err := tenant.StaticJWKS(jwkSet(jwk))
		require.ErrorContains(t, err, "rsa modulus of 2047 bits, want at least 2048")
	})
	t.Run("padded base64", func(t *testing.T) {
		jwk := rsaJWK("r", &k.rsa.PublicKey)
		jwk["e"] = "AQAB=="
		_, err := tenant.StaticJWKS(jwkSet(jwk))
		require.NoError(t, err)
	})
}

func TestJWKSNoRefetchWhileFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey))}
		v, err := tenant.JWKS("https://auth.example/jwks.json",
			tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}), tenant.WithKeySetTTL(time.Hour))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)
		for range 5 {
			_, err = v.Verify(t.Context(), token)
			require.NoError(t, err)
		}
		time.Sleep(time.Hour - time.Nanosecond)
		_, err = v.Verify(t.Context(), token)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int32(1), srv.fetches.Load(), "fresh until the TTL")
		time.Sleep(time.Nanosecond)
		_, err = v.Verify(t.Context(), token)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int32(2), srv.fetches.Load(), "refetched at the TTL")
	})
}

func TestJWKSKeySetSizeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		doc := jwkSet(ecJWK("ec-1", &k.ec.PublicKey))
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)
		for _, size := range []int{1 << 20, 1<<20 + 1} {
			padded := append(bytes.Repeat([]byte(" "), size-len(doc)), doc...)
			srv := &jwksServer{doc: padded}
			v, err := tenant.JWKS("https://auth.example/jwks.json", tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}))
			require.NoError(t, err)
			_, err = v.Verify(t.Context(), token)
			if size == 1<<20 {
				require.NoError(t, err, "exactly 1 MiB")
				continue
			}
			require.ErrorIs(t, err, tenant.ErrUnavailable)
			require.ErrorContains(t, err, "key set larger than 1048576 bytes")
		}
	})
}

// TestJWKSUnknownKidAndFailedRefresh: a token naming a kid the set does not
// have, when the refetch fails, is refused (401): the known keys are still
// there, so the key server's failure is not the reason.
func TestJWKSUnknownKidAndFailedRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{doc: jwkSet(ecJWK("ec-1", &k.ec.PublicKey))}
		v, err := tenant.JWKS("https://auth.example/jwks.json",
			tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}), tenant.WithRefreshInterval(time.Minute))
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec))
		require.NoError(t, err)
		srv.set(nil, http.StatusInternalServerError)
		time.Sleep(time.Minute)
		w := do(tenant.Middleware(v)(&recorder{}), bearer(sign(t, jwt.SigningMethodES256, "ec-2", validClaims(), k.ec)))
		requireRefused(t, w, http.StatusUnauthorized, tenant.CodeInvalidToken)
		require.Equal(t, int32(2), srv.fetches.Load(), "the refetch was tried")
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec))
		require.NoError(t, err, "known keys still verify")
	})
}

// TestJWKSFailedFetchRetriedAfterFiveSeconds: without keys, a failed fetch
// is retried 5s later, not at once and not after the refresh interval.
func TestJWKSFailedFetchRetriedAfterFiveSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := testKeys()
		srv := &jwksServer{status: http.StatusBadGateway}
		v, err := tenant.JWKS("https://auth.example/jwks.json", tenant.WithHTTPClient(&http.Client{Transport: inMemory{srv}}))
		require.NoError(t, err)
		token := sign(t, jwt.SigningMethodES256, "ec-1", validClaims(), k.ec)
		_, err = v.Verify(t.Context(), token)
		require.ErrorContains(t, err, "status 502")
		time.Sleep(5*time.Second - time.Nanosecond)
		_, err = v.Verify(t.Context(), token)
		require.ErrorContains(t, err, "status 502", "the last error, kept")
		require.Equal(t, int32(1), srv.fetches.Load())
		time.Sleep(time.Nanosecond)
		_, err = v.Verify(t.Context(), token)
		require.ErrorIs(t, err, tenant.ErrUnavailable)
		require.Equal(t, int32(2), srv.fetches.Load())
	})
}

// TestTokenSizeLimits: tokens exactly at the cap pass the size check,
// one byte more does not, in the header, the cookie and the verifier.
func TestTokenSizeLimits(t *testing.T) {
	token := signHS(t, validClaims(), testSecret)
	n := len(token)
	tests := []struct {
		name string
		max  int
		req  func() *http.Request
		ok   bool
	}{
		{"header at the cap", n, func() *http.Request { return bearer(token) }, true},
		{"header one over", n - 1, func() *http.Request { return bearer(token) }, false},
		{"header with spaces at the cap", n, func() *http.Request { return bearer(token + strings.Repeat(" ", 16)) }, true},
		{"cookie at the cap", n, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "sb", Value: token})
			return r
		}, true},
		{"cookie one over", n - 1, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "sb", Value: token})
			return r
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(tenant.Middleware(hs256(t), tenant.WithMaxTokenSize(tt.max), tenant.WithCookie("sb"))(&recorder{}), tt.req())
			if tt.ok {
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				return
			}
			requireRefused(t, w, http.StatusUnauthorized, tenant.CodeInvalidToken)
			require.Contains(t, w.Body.String(), "token too large")
		})
	}

	// The verifier's own cap, 64 KiB, whoever calls it.
	_, err := hs256(t).Verify(t.Context(), tokenOfLength(t, 64<<10))
	require.NoError(t, err)
	_, err = hs256(t).Verify(t.Context(), tokenOfLength(t, 64<<10+1))
	require.ErrorIs(t, err, tenant.ErrTokenTooLarge)
}

// tokenOfLength returns a valid HS256 token of exactly n bytes, padded in
// a claim and with spaces in the header.
func tokenOfLength(t *testing.T, n int) string {
	t.Helper()
	for spaces := range 4 {
		header := `{"alg":"HS256"` + strings.Repeat(" ", spaces) + `}`
		base := len(signRawHS(header, rawPayload(`"pad":""`), testSecret))
		for pad := max(0, (n-base)*3/4-3); pad <= (n-base)*3/4+3; pad++ {
			if tok := signRawHS(header, rawPayload(`"pad":"`+strings.Repeat("x", pad)+`"`), testSecret); len(tok) == n {
				return tok
			}
		}
	}
	t.Fatalf("no token of %d bytes", n)
	return ""
}

func TestConfiguredCookieAbsent(t *testing.T) {
	h := tenant.Middleware(hs256(t), tenant.WithCookie("sb-access-token"))(&recorder{})
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/", nil),
		func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "other", Value: "x"})
			return r
		}(),
		func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", "sb-access-token=")
			return r
		}(),
	} {
		var w *httptest.ResponseRecorder
		require.NotPanics(t, func() { w = do(h, r) })
		requireRefused(t, w, http.StatusUnauthorized, tenant.CodeMissingToken)
	}
}

// TestZeroOptions: the zero (or negative) value of each option means its
// default, or "off" where its documentation says so.
func TestZeroOptions(t *testing.T) {
	token := signHS(t, validClaims(), testSecret)
	stale := signHS(t, claimsWith(noOrg), testSecret)
	t.Run("WithMaxTokenSize(0) is the default 8 KiB", func(t *testing.T) {
		h := tenant.Middleware(hs256(t), tenant.WithMaxTokenSize(0))(&recorder{})
		require.Equal(t, http.StatusOK, do(h, bearer(token)).Code)
		big := signHS(t, claimsWith(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 8<<10) }), testSecret)
		requireRefused(t, do(h, bearer(big)), http.StatusUnauthorized, tenant.CodeInvalidToken)
	})
	t.Run("WithRetryAfter(0) is the default", func(t *testing.T) {
		dir := newDirectory(nil)
		dir.setErr(errDBDown)
		w := do(tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithRetryAfter(0))(&recorder{}), bearer(stale))
		require.Equal(t, "5", w.Header().Get("Retry-After"))
	})
	t.Run("WithLookupTimeout(0) is the default 5s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stale := signHS(t, claimsWith(noOrg), testSecret)
			dir := newDirectory(map[string]string{"user-1": "org-1"})
			dir.delay = tenant.DefaultLookupTimeout - time.Millisecond
			h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithLookupTimeout(0))(&recorder{})
			require.Equal(t, http.StatusOK, do(h, bearer(stale)).Code)
			dir.delay = tenant.DefaultLookupTimeout + time.Millisecond
			h = tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithLookupTimeout(-1))(&recorder{})
			requireRefused(t, do(h, bearer(stale)), http.StatusServiceUnavailable, tenant.CodeUnavailable)
		})
	})
	t.Run("WithCacheSize(0) disables the cache", func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir), tenant.WithCacheSize(0))(&recorder{})
		do(h, bearer(stale))
		do(h, bearer(stale))
		require.Equal(t, int32(2), dir.calls.Load())
	})
	t.Run("WithLeeway(-1) is no leeway", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			v := hs256(t, tenant.WithLeeway(-time.Second))
			_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(fmt.Sprintf(`"exp":%d`, time.Now().Unix())), testSecret))
			require.ErrorIs(t, err, tenant.ErrTokenExpired)
			_, err = v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(fmt.Sprintf(`"exp":%d`, time.Now().Unix()+1)), testSecret))
			require.NoError(t, err)
		})
	})
	t.Run("nil options are ignored", func(t *testing.T) {
		v, err := tenant.HS256([]byte(testSecret), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, do(tenant.Middleware(v, nil)(&recorder{}), bearer(token)).Code)
		_, err = tenant.JWKS("https://auth.example/jwks.json", nil, tenant.WithRefreshInterval(-1), tenant.WithKeySetTTL(0))
		require.NoError(t, err)
	})
}

// TestDefaultLeeway: 30s of clock skew on exp, iat and nbf, to the second.
func TestDefaultLeeway(t *testing.T) {
	require.Equal(t, 30*time.Second, tenant.DefaultLeeway)
	synctest.Test(t, func(t *testing.T) {
		now := time.Now().Unix()
		v := hs256(t)
		tests := []struct {
			member string
			reason error
		}{
			{fmt.Sprintf(`"exp":%d`, now-29), nil},
			{fmt.Sprintf(`"exp":%d`, now-30), tenant.ErrTokenExpired},
			{fmt.Sprintf(`"exp":%d.5`, now-30), nil},
			{fmt.Sprintf(`"iat":%d`, now+30), nil},
			{fmt.Sprintf(`"iat":%d`, now+31), tenant.ErrTokenNotYetValid},
			{fmt.Sprintf(`"nbf":%d`, now+30), nil},
			{fmt.Sprintf(`"nbf":%d`, now+31), tenant.ErrTokenNotYetValid},
			{fmt.Sprintf(`"nbf":%de0`, now+31), tenant.ErrTokenNotYetValid},
		}
		for _, tt := range tests {
			_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(tt.member), testSecret))
			if tt.reason == nil {
				require.NoError(t, err, tt.member)
				continue
			}
			require.ErrorIs(t, err, tt.reason, tt.member)
		}
	})
}

// TestDefaultCacheTTL: a Directory answer is reused for 5 minutes, to the
// nanosecond.
func TestDefaultCacheTTL(t *testing.T) {
	require.Equal(t, 5*time.Minute, tenant.DefaultCacheTTL)
	synctest.Test(t, func(t *testing.T) {
		dir := newDirectory(map[string]string{"user-1": "org-1"})
		h := tenant.Middleware(hs256(t), tenant.WithDirectory(dir))(&recorder{})
		stale := signHS(t, claimsWith(noOrg), testSecret)
		do(h, bearer(stale))
		time.Sleep(tenant.DefaultCacheTTL - time.Nanosecond)
		do(h, bearer(stale))
		require.Equal(t, int32(1), dir.calls.Load())
		time.Sleep(time.Nanosecond)
		do(h, bearer(stale))
		require.Equal(t, int32(2), dir.calls.Load())
	})
}

// TestClaimTextBoundaries: printable text passes, C0, DEL and C1 do not.
func TestClaimTextBoundaries(t *testing.T) {
	v := hs256(t)
	for member, ok := range map[string]bool{
		`"sub":"Ada Lovelace ~"`: true, `"sub":"\u00a0Ada é☃"`: true, `"sub":"a\u001f"`: false,
		`"sub":"a\u007f"`: false, `"sub":"a\u0080"`: false, `"sub":"a\u009f"`: false, `"sub":"a\u00a0"`: true,
		`"email":" "`: true, `"email":"\u0020\u007e"`: true,
	} {
		_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(member), testSecret))
		if ok {
			require.NoError(t, err, member)
			continue
		}
		require.ErrorIs(t, err, tenant.ErrTokenMalformed, member)
	}
}

// TestNumericDateRange: dates up to 2^53 seconds either way are read.
func TestNumericDateRange(t *testing.T) {
	v := hs256(t)
	for member, ok := range map[string]bool{
		`"exp":9007199254740992`: true, `"exp":9007199254740993`: false, `"exp":9007199254740992.0`: true,
		`"exp":9.007199254740994e15`: false, `"exp":1e300`: false, `"exp":99999999999999999999`: false,
		`"nbf":-9007199254740992`: true, `"nbf":-9007199254740993`: false, `"nbf":-9007199254740992.0`: true,
		`"nbf":-9.007199254740994e15`: false, `"exp":null`: false, `"nbf":null`: true, `"iat":null`: true,
		`"exp":true`: false, `"exp":{}`: false, `"exp":[1]`: false,
	} {
		_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(member), testSecret))
		if ok {
			require.NoError(t, err, member)
			continue
		}
		require.ErrorIs(t, err, tenant.ErrInvalidToken, member)
	}
}

// TestNotCompactJWS: anything but three base64url segments is refused for
// what it is, before any decoding.
func TestNotCompactJWS(t *testing.T) {
	valid := signHS(t, validClaims(), testSecret)
	parts := strings.Split(valid, ".")
	v := hs256(t)
	for _, token := range []string{
		"." + parts[1] + "." + parts[2],
		parts[0] + ".." + parts[2],
		parts[0] + "." + parts[1],
		valid + ".x",
		parts[0] + "." + parts[1] + "\n." + parts[2],
		valid + "\r",
		"\n" + valid,
		"\r" + valid,
		parts[0] + "." + parts[1] + ".." + parts[2],
		"nodots",
	} {
		_, err := v.Verify(t.Context(), token)
		require.ErrorIs(t, err, tenant.ErrTokenMalformed, "%q", token)
		require.ErrorContains(t, err, "not a compact JWS", "%q", token)
	}
	_, err := v.Verify(t.Context(), parts[0]+"."+parts[1]+".")
	require.ErrorIs(t, err, tenant.ErrTokenSignature, "an empty signature is a bad one")
	_, err = v.Verify(t.Context(), parts[0]+"="+"."+parts[1]+"."+parts[2])
	require.ErrorIs(t, err, tenant.ErrTokenMalformed, "no padding")
}

// TestJWKSWithoutKidTriesEveryKeyOfTheAlgorithm: a token without kid is
// checked against each key of its algorithm, first and last alike.
func TestJWKSWithoutKidTriesEveryKeyOfTheAlgorithm(t *testing.T) {
	k := testKeys()
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	third, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	v, err := tenant.StaticJWKS(jwkSet(ecJWK("a", &k.ec.PublicKey), rsaJWK("r", &k.rsa.PublicKey),
		ecJWK("b", &other.PublicKey), ecJWK("c", &third.PublicKey)))
	require.NoError(t, err)
	for _, key := range []*ecdsa.PrivateKey{k.ec, other, third} {
		_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "", validClaims(), key))
		require.NoError(t, err)
	}
	_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "", validClaims(), k.rsa))
	require.NoError(t, err)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, "", validClaims(), stranger))
	require.ErrorIs(t, err, tenant.ErrTokenSignature)
}

func TestEmptyBearer(t *testing.T) {
	var got error
	h := tenant.Middleware(hs256(t), tenant.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		got = err
		tenant.WriteError(w, err)
	}))(&recorder{})
	for header, cause := range map[string]string{
		"Bearer ": "empty bearer token", "Bearer   ": "empty bearer token", "bearer ": "empty bearer token",
		"Bearer": "authorization scheme is not Bearer", "Basic x": "authorization scheme is not Bearer",
		"Bearerx": "authorization scheme is not Bearer",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		requireRefused(t, do(h, r), http.StatusUnauthorized, tenant.CodeInvalidToken)
		require.ErrorContains(t, got, cause, "%q", header)
	}
}

func TestProvisionedIsLoggedOnlyWhenMade(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	stale := signHS(t, claimsWith(noOrg), testSecret)

	none := &provisioner{dir: newDirectory(nil), err: tenant.ErrNoOrg}
	w := do(tenant.Middleware(hs256(t), tenant.WithProvisioner(none), tenant.WithLogger(logger))(&recorder{}), bearer(stale))
	requireRefused(t, w, http.StatusForbidden, tenant.CodeNoOrganization)
	require.NotContains(t, buf.String(), "organization provisioned")

	made := &provisioner{dir: newDirectory(nil)}
	w = do(tenant.Middleware(hs256(t), tenant.WithProvisioner(made), tenant.WithLogger(logger))(&recorder{}), bearer(stale))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, buf.String(), "level=INFO msg=\"tenant: organization provisioned\" user=user-1 org=org-of-user-1")
}
