package tenant

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of JWKS verifiers.
const (
	// DefaultRefreshInterval is the least time between two fetches of a key
	// set (WithRefreshInterval): a token with an unknown kid triggers a
	// refetch at most this often.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultKeySetTTL is the age after which a key set is refetched on the
	// next Verify (WithKeySetTTL), so that removed keys stop being accepted.
	DefaultKeySetTTL = time.Hour
	// failedFetchRetry is the least time between fetches while the last one
	// failed, so that an outage of the key server heals quickly.
	failedFetchRetry = 5 * time.Second
	// fetchTimeout bounds one fetch (the http.Client's own Timeout, if
	// shorter, applies too).
	fetchTimeout = 10 * time.Second
	// maxKeySetBytes bounds the size of a key set document.
	maxKeySetBytes = 1 << 20
)

// WithHTTPClient sets the client that fetches key sets (default
// http.DefaultClient). Ignored by HS256 and StaticJWKS.
func WithHTTPClient(c *http.Client) VerifyOption {
	return func(cfg *verifyConfig) { cfg.client = c }
}

// WithRefreshInterval sets the least time between two fetches of the key
// set (default DefaultRefreshInterval; 5s after a failed fetch, if less).
// Tokens naming an unknown kid within that time are refused without a
// fetch. Ignored by HS256 and StaticJWKS.
func WithRefreshInterval(d time.Duration) VerifyOption {
	return func(cfg *verifyConfig) { cfg.minRefresh = max(d, 0) }
}

// WithKeySetTTL sets the age after which the key set is refetched on the
// next Verify (default DefaultKeySetTTL). If that fetch fails the old keys
// stay in use. Ignored by HS256 and StaticJWKS.
func WithKeySetTTL(d time.Duration) VerifyOption {
	return func(cfg *verifyConfig) { cfg.keySetTTL = d }
}

// asymmetric reports whether alg is one that JWKS verifiers accept.
func asymmetric(alg string) bool { return alg == "RS256" || alg == "ES256" }

// JWKS returns a Verifier for RS256 and ES256 tokens whose keys are published
// as a JWK set at rawURL (Supabase: https://<project>.supabase.co/auth/v1/.well-known/jwks.json).
// Only RS256 and ES256 are accepted, each only with a key of its own type:
// alg "none", HS256 (the HS/RS confusion) and the rest are refused.
//
// JWKS starts no goroutine and does no I/O: the set is fetched on the first
// Verify, refetched when a token names an unknown kid (at most once per
// WithRefreshInterval; concurrent refetches are merged into one) and, in the
// background of the Verify that notices it, when it is older than
// WithKeySetTTL. If the set cannot be fetched and no keys are
// known, Verify returns an *UnavailableError (Middleware answers 503).
// It fails on an invalid URL or a WithOrgClaim path into user_metadata.
// Plain http is accepted for local and in-cluster key servers; anywhere
// else use https, or whoever is on the path can serve their own keys.
func JWKS(rawURL string, opts ...VerifyOption) (Verifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("tenant: jwks url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tenant: jwks url %q: want an http or https URL", rawURL)
	}
	cfg := newVerifyConfig(opts)
	if err := checkOrgClaim(cfg.orgClaim); err != nil {
		return nil, err
	}
	v := &jwksVerifier{
		url:        u.String(),
		client:     cfg.client,
		minRefresh: cfg.minRefresh,
		ttl:        cfg.keySetTTL,
	}
	v.validator.init(cfg)
	return v, nil
}

// StaticJWKS returns a Verifier like JWKS's whose keys are the JWK set
// document jwksJSON, never fetched nor refreshed: for tests, and for
// deployments that ship their keys. It fails if the document holds no
// usable RS256 or ES256 key.
func StaticJWKS(jwksJSON []byte, opts ...VerifyOption) (Verifier, error) {
	ks, err := parseKeySet(jwksJSON)
	if err != nil {
		return nil, fmt.Errorf("tenant: %w", err)
	}
	cfg := newVerifyConfig(opts)
	if err := checkOrgClaim(cfg.orgClaim); err != nil {
		return nil, err
	}
	v := &staticJWKS{keys: ks}
	v.validator.init(cfg)
	return v, nil
}

// staticJWKS is the Verifier of StaticJWKS: a fixed key set.
type staticJWKS struct {
	validator
	keys *keySet
}

// Verify implements Verifier.
func (v *staticJWKS) Verify(ctx context.Context, token string) (Claims, error) {
	return v.verify(ctx, token, v)
}

// checkSignature implements signatureChecker.
func (v *staticJWKS) checkSignature(_ context.Context, h header, input, sig []byte) error {
	if !asymmetric(h.alg) {
		return tokenError(ErrTokenSignature, errAlgNotAllowed)
	}
	keys := v.keys.find(h.kid, h.alg)
	if len(keys) == 0 {
		return tokenError(ErrUnknownKey, nil)
	}
	return checkKeys(keys, input, sig)
}

// jwksVerifier is the Verifier of JWKS: a key set fetched from a URL.
type jwksVerifier struct {
	validator
	url        string
	client     *http.Client
	minRefresh time.Duration
	ttl        time.Duration

	keys atomic.Pointer[keySet]
	sf   singleflight.Group

	mu        sync.Mutex
	attempted time.Time // start of the last fetch
	fetching  bool      // a fetch is running
	lastErr   error     // outcome of the last fetch
}

// Verify implements Verifier. ctx bounds the wait for a key set fetch.
func (v *jwksVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	return v.verify(ctx, token, v)
}

// checkSignature implements signatureChecker.
func (v *jwksVerifier) checkSignature(ctx context.Context, h header, input, sig []byte) error {
	if !asymmetric(h.alg) {
		return tokenError(ErrTokenSignature, errAlgNotAllowed)
	}
	keys, err := v.key(ctx, h.kid, h.alg)
	if err != nil {
		return err
	}
	return checkKeys(keys, input, sig)
}

// key returns the candidate keys of kid and alg, fetching the set if needed.
func (v *jwksVerifier) key(ctx context.Context, kid, alg string) ([]verifyKey, error) {
	ks := v.keys.Load()
	keys := ks.find(kid, alg)
	now := time.Now()
	if len(keys) > 0 {
		if now.Sub(ks.fetched) >= v.ttl && v.shouldFetch(now) {
			v.startRefresh(ctx) // stale: refresh without making this request wait
		}
		return keys, nil
	}
	if v.shouldFetch(now) {
		fresh, err := v.refresh(ctx)
		if err != nil && ks == nil {
			return nil, err // never had keys: the server, not the token, is at fault
		}
		if err == nil {
			ks = fresh
		}
	} else if ks == nil {
		ks = v.keys.Load() // a fetch may have ended since the first look
	}
	if ks == nil {
		return nil, v.lastError()
	}
	if keys = ks.find(kid, alg); len(keys) == 0 {
		return nil, tokenError(ErrUnknownKey, nil)
	}
	return keys, nil
}

// lastError is the error of a Verify while no key set was ever fetched:
// the last fetch failed, and the next is not due yet.
func (v *jwksVerifier) lastError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastErr
}

// shouldFetch reports whether a fetch is running (to be joined) or the
// rate limit allows one now.
func (v *jwksVerifier) shouldFetch(now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fetching || v.mayFetchLocked(now)
}

func (v *jwksVerifier) mayFetchLocked(now time.Time) bool {
	if v.attempted.IsZero() {
		return true
	}
	wait := v.minRefresh
	if v.lastErr != nil {
		wait = min(wait, failedFetchRetry)
	}
	return now.Sub(v.attempted) >= wait
}

// refresh fetches the key set once for all concurrent callers and waits
// for it; ctx bounds this caller's wait, not the fetch.
func (v *jwksVerifier) refresh(ctx context.Context) (*keySet, error) {
	select {
	case res := <-v.startRefresh(ctx):
		if res.Err != nil {
			return nil, res.Err
		}
		ks, _ := res.Val.(*keySet)
		if ks == nil {
			return nil, &UnavailableError{Op: "jwks", Err: errors.New("no key set")}
		}
		return ks, nil
	case <-ctx.Done():
		return nil, &UnavailableError{Op: "jwks", Err: ctx.Err()}
	}
}

// startRefresh starts a fetch, or joins the running one. The fetch does not
// inherit ctx's cancellation: one caller giving up must not fail the others.
// The channel is buffered: nobody has to read it.
func (v *jwksVerifier) startRefresh(ctx context.Context) <-chan singleflight.Result {
	return v.sf.DoChan("", func() (any, error) {
		v.mu.Lock()
		now := time.Now()
		if !v.mayFetchLocked(now) { // a flight that just ended did the work
			defer v.mu.Unlock()
			if ks := v.keys.Load(); ks != nil {
				return ks, nil
			}
			return nil, v.lastErr
		}
		v.attempted, v.fetching = now, true
		v.mu.Unlock()

		ks, err := v.fetch(context.WithoutCancel(ctx))
		if err == nil {
			v.keys.Store(ks)
		}
		v.mu.Lock()
		v.lastErr, v.fetching = err, false
		v.mu.Unlock()
		return ks, err
	})
}

// fetch downloads and parses the key set.
func (v *jwksVerifier) fetch(ctx context.Context) (ks *keySet, err error) {
	defer func() {
		if p := recover(); p != nil { // a panicking RoundTripper must not kill the process
			ks, err = nil, fmt.Errorf("panic: %v", p)
		}
		if err != nil {
			err = &UnavailableError{Op: "jwks", Err: err}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: status %d", v.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", v.url, maxKeySetBytes)
	}
	if ks, err = parseKeySet(body); err != nil {
		return nil, err
	}
	ks.fetched = time.Now()
	return ks, nil
}
