package tenant

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Middleware.
const (
	// DefaultCacheTTL is how long a user's organisation found by the
	// Directory or the Provisioner is remembered (WithCacheTTL).
	DefaultCacheTTL = 5 * time.Minute
	// DefaultCacheSize bounds the number of users remembered (WithCacheSize).
	DefaultCacheSize = 10_000
	// DefaultMaxTokenSize is the largest token accepted, in bytes (WithMaxTokenSize).
	DefaultMaxTokenSize = 8 << 10
	// DefaultLookupTimeout bounds one Directory lookup plus provisioning (WithLookupTimeout).
	DefaultLookupTimeout = 5 * time.Second
)

// Option configures Middleware.
type Option func(*config)

type config struct {
	dir           Directory
	prov          Provisioner
	cacheTTL      time.Duration
	cacheSize     int
	cookie        string
	membership    bool
	anonymous     bool
	logger        *slog.Logger
	maxToken      int
	retryAfter    time.Duration
	lookupTimeout time.Duration
	onError       func(http.ResponseWriter, *http.Request, error)
}

func newConfig(opts []Option) config {
	c := config{
		cacheTTL:      DefaultCacheTTL,
		cacheSize:     DefaultCacheSize,
		maxToken:      DefaultMaxTokenSize,
		retryAfter:    defaultRetryAfter,
		lookupTimeout: DefaultLookupTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.maxToken <= 0 {
		c.maxToken = DefaultMaxTokenSize
	}
	if c.lookupTimeout <= 0 {
		c.lookupTimeout = DefaultLookupTimeout
	}
	if c.retryAfter <= 0 {
		c.retryAfter = defaultRetryAfter
	}
	return c
}

// WithDirectory sets where the organisation of a user whose token carries
// none is looked up. Without a Directory (and without a Provisioner), such
// users are refused with 403 no_organization.
func WithDirectory(d Directory) Option {
	return func(c *config) { c.dir = d }
}

// WithProvisioner sets who creates an organisation for a user who has none.
// It is called when the Directory answers ErrNoOrg, or for every uncached
// user without an org claim when there is no Directory.
func WithProvisioner(p Provisioner) Option {
	return func(c *config) { c.prov = p }
}

// WithCacheTTL sets how long a resolved organisation is remembered
// (default DefaultCacheTTL); 0 or less disables the cache. Errors and
// "no organisation" answers are never cached.
func WithCacheTTL(d time.Duration) Option {
	return func(c *config) { c.cacheTTL = d }
}

// WithCacheSize bounds the number of users remembered (default
// DefaultCacheSize); the least recently used are forgotten first. 0 or less
// disables the cache.
func WithCacheSize(n int) Option {
	return func(c *config) { c.cacheSize = n }
}

// WithCookie makes Middleware also read the token from the cookie name when
// the request has no Authorization header. The cookie holds the raw JWT.
// Browsers send cookies with cross-site requests too: protect the routes
// that change state from CSRF (SameSite cookies, a CSRF token).
func WithCookie(name string) Option {
	return func(c *config) { c.cookie = name }
}

// WithMembershipCheck, when on and a Directory is set, refuses (403
// not_member) a token whose org claim differs from the Directory's answer
// for the user: a removed member with a still valid token. The answer is
// cached like any lookup. Off by default: the claim is trusted.
func WithMembershipCheck(on bool) Option {
	return func(c *config) { c.membership = on }
}

// WithAnonymous, when on, accepts the tokens of Supabase's anonymous
// sign-ins (is_anonymous: true); Info.Anonymous tells them apart. Off by
// default: they are refused with 403 and code CodeAnonymous, since anyone
// can mint one without an account.
func WithAnonymous(on bool) Option {
	return func(c *config) { c.anonymous = on }
}

// WithLogger sets where refusals (debug), provisioning (info), dependency
// failures (error) and, once, an organisation found outside the configured
// org claim (warn) are logged; nil (the default) logs nothing. Tokens are
// never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithMaxTokenSize sets the largest token accepted, in bytes (default
// DefaultMaxTokenSize); larger ones are refused with 401 before parsing.
func WithMaxTokenSize(n int) Option {
	return func(c *config) { c.maxToken = n }
}

// WithRetryAfter sets the Retry-After of 503 answers (default 5s), unless
// the error names its own wait (UnavailableError.After).
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) { c.retryAfter = d }
}

// WithLookupTimeout bounds one Directory lookup plus provisioning (default
// DefaultLookupTimeout). The lookup is shared by concurrent requests and
// outlives the cancellation of the request that started it.
func WithLookupTimeout(d time.Duration) Option {
	return func(c *config) { c.lookupTimeout = d }
}

// WithErrorHandler replaces the answer to refused requests (default
// WriteError). err matches ErrNoToken, ErrInvalidToken, ErrNoOrg,
// ErrNotMember or ErrUnavailable; StatusOf maps it to a status.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(c *config) { c.onError = h }
}
