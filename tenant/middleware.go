package tenant

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
)

// Middleware returns HTTP middleware that authenticates each request with v
// and puts its tenant (Info) in the request context, or answers itself:
//
//   - 401 (missing, malformed, oversized or refused token), with a
//     WWW-Authenticate: Bearer header;
//   - 403 (no organisation can be found or made, membership refused, or an
//     anonymous user without WithAnonymous(true));
//   - 503 with Retry-After (the key set, Directory or Provisioner failed).
//
// Answers are JSON {"error": "...", "code": "..."} (see WriteError). The
// token comes from "Authorization: Bearer" (or the cookie of WithCookie);
// the organisation comes only from the verified claims, the Directory or the
// Provisioner, never from a header, the query or the body.
//
// The handlers it wraps share one cache. It panics if v is nil.
func Middleware(v Verifier, opts ...Option) func(http.Handler) http.Handler {
	if v == nil {
		panic("tenant: Middleware with a nil Verifier")
	}
	cfg := newConfig(opts)
	a := &authenticator{
		verifier:  v,
		anonymous: cfg.anonymous,
		cookie:    cfg.cookie,
		maxToken:  cfg.maxToken,
		logger:    cfg.logger,
		onError:   cfg.onError,
		resolver: resolver{
			dir:        cfg.dir,
			prov:       cfg.prov,
			membership: cfg.membership && cfg.dir != nil,
			cache:      newOrgCache(cfg.cacheTTL, cfg.cacheSize),
			timeout:    cfg.lookupTimeout,
			retryAfter: cfg.retryAfter,
			logger:     cfg.logger,
		},
	}
	if a.onError == nil {
		a.onError = func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, err) }
	}
	return func(next http.Handler) http.Handler {
		return &handler{a: a, next: next}
	}
}

type handler struct {
	a    *authenticator
	next http.Handler
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, err := h.a.authenticate(r)
	if err != nil {
		h.a.refuse(w, r, err)
		return
	}
	h.next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), info)))
}

type authenticator struct {
	verifier  Verifier
	anonymous bool
	stray     atomic.Bool // the stray org claim warning was logged
	cookie    string
	maxToken  int
	logger    *slog.Logger
	onError   func(http.ResponseWriter, *http.Request, error)
	resolver  resolver
}

// authenticate returns the tenant of r.
func (a *authenticator) authenticate(r *http.Request) (Info, error) {
	token, err := a.token(r)
	if err != nil {
		return Info{}, err
	}
	ctx := r.Context()
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return Info{}, a.verifyError(err)
	}
	// A custom Verifier may not check these: a NUL in a user ID makes
	// PostgreSQL fail every lookup.
	if claims.Subject == "" {
		return Info{}, tokenError(ErrTokenClaimMissing, errSubMissing)
	}
	if checkText(claims.Subject) != nil || checkText(claims.OrgID) != nil {
		return Info{}, tokenError(ErrTokenMalformed, errControl)
	}
	if claims.Anonymous && !a.anonymous {
		return Info{}, ErrAnonymous
	}
	if claims.strayOrg != "" && a.logger != nil && a.stray.CompareAndSwap(false, true) {
		a.logger.LogAttrs(ctx, slog.LevelWarn,
			"tenant: a verified token carries an organization that the org claim does not read; "+
				"if your access token hook puts it there, configure the verifier with WithOrgClaim",
			slog.String("found_at", claims.strayOrg))
	}
	info := Info{UserID: claims.Subject, Email: claims.Email, Role: claims.Role, Anonymous: claims.Anonymous}
	if claims.OrgID != "" {
		info.OrgID, info.Source = claims.OrgID, SourceClaim
		return info, a.resolver.checkMember(ctx, info)
	}
	return a.resolver.resolve(ctx, info)
}

// verifyError keeps *TokenError and *UnavailableError and makes any other
// Verifier error a refused token. An *UnavailableError that suggests no wait
// gets WithRetryAfter's, on a copy: the verifier may return the same error
// to concurrent requests.
func (a *authenticator) verifyError(err error) error {
	if errors.Is(err, ErrInvalidToken) {
		return err
	}
	if errors.Is(err, ErrUnavailable) {
		var ue *UnavailableError
		if errors.As(err, &ue) && ue.After <= 0 {
			c := *ue
			c.After = a.resolver.retryAfter
			return &c
		}
		return err
	}
	return tokenError(ErrInvalidToken, err)
}

const bearerPrefix = "Bearer "

// token extracts the raw token of r.
func (a *authenticator) token(r *http.Request) (string, error) {
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return a.cookieToken(r)
	case 1:
	default:
		return "", tokenError(ErrTokenMalformed, errors.New("several Authorization headers"))
	}
	h := vals[0]
	if len(h) > a.maxToken+len(bearerPrefix)+16 {
		return "", tokenError(ErrTokenTooLarge, nil)
	}
	if len(h) < len(bearerPrefix) || !strings.EqualFold(h[:len(bearerPrefix)], bearerPrefix) {
		if strings.TrimSpace(h) == "" {
			return "", ErrNoToken
		}
		return "", tokenError(ErrTokenMalformed, errors.New("authorization scheme is not Bearer"))
	}
	return a.checkToken(strings.TrimSpace(h[len(bearerPrefix):]))
}

func (a *authenticator) cookieToken(r *http.Request) (string, error) {
	if a.cookie == "" {
		return "", ErrNoToken
	}
	c, err := r.Cookie(a.cookie)
	if err != nil || c.Value == "" {
		return "", ErrNoToken
	}
	return a.checkToken(c.Value)
}

func (a *authenticator) checkToken(t string) (string, error) {
	switch {
	case t == "":
		return "", tokenError(ErrTokenMalformed, errors.New("empty bearer token"))
	case len(t) > a.maxToken:
		return "", tokenError(ErrTokenTooLarge, nil)
	}
	return t, nil
}

// refuse logs err and answers it.
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if a.logger != nil {
		level := slog.LevelDebug
		if errors.Is(err, ErrUnavailable) {
			level = slog.LevelError
		}
		_, code := StatusOf(err)
		// err never holds the token; the path is logged without its query.
		a.logger.LogAttrs(r.Context(), level, "tenant: request refused",
			slog.String("code", code), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	a.onError(w, r, err)
}

// compile-time check.
var _ http.Handler = (*handler)(nil)
