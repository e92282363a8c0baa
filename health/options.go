package health

import (
	"log/slog"
	"net/http"
	"time"
)

const (
	defaultCacheTTL = time.Second
	defaultTimeout  = 2 * time.Second
)

// Option configures an Aggregator.
type Option func(*config)

type config struct {
	cacheTTL       time.Duration
	defaultTimeout time.Duration
	now            func() time.Time
	onChange       func(old, new Report)
	showDetails    func(*http.Request) bool
	logger         *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{cacheTTL: defaultCacheTTL, defaultTimeout: defaultTimeout, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.defaultTimeout <= 0 {
		c.defaultTimeout = defaultTimeout
	}
	c.cacheTTL = max(c.cacheTTL, 0)
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// WithCacheTTL sets how long a report is reused (default 1s). Zero disables
// the cache; concurrent callers still share one run.
func WithCacheTTL(d time.Duration) Option { return func(c *config) { c.cacheTTL = d } }

// WithDefaultTimeout sets the timeout of checks whose Timeout is zero
// (default 2s; zero or negative keeps the default).
func WithDefaultTimeout(d time.Duration) Option {
	return func(c *config) { c.defaultTimeout = d }
}

// WithClock sets the clock used for timestamps, elapsed times and cache
// expiry (nil: time.Now). Check timeouts always use the time package.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithOnChange registers fn to be called when the overall status of a fresh
// report differs from the previous one, for alerting. The first report
// counts as a change from the zero Report (whose Status is ""). Calls are
// serialized, in the order of the reports, and made by the goroutine that
// ran the checks after new has been handed to the callers of Run; keep fn
// fast or hand the work off. A panic in fn is recovered and logged.
func WithOnChange(fn func(old, new Report)) Option { return func(c *config) { c.onChange = fn } }

// WithDetails makes ServeHTTP include Result details (and, in the IETF
// format, each check's duration) for the requests for which show returns
// true, e.g. those of authenticated staff. Details are hidden by default:
// they name tenants, pool sizes and error texts that help attackers. A nil
// show shows details to nobody; to show them to every request, say so with
// a func that returns true. The query ?verbose=0 hides details in any case.
func WithDetails(show func(r *http.Request) bool) Option {
	return func(c *config) { c.showDetails = show }
}

// WithoutDetails makes ServeHTTP never include Result details, which is the
// default; it undoes an earlier WithDetails.
func WithoutDetails() Option {
	return WithDetails(nil)
}

// WithLogger logs to l (nil: no logging): the first status at INFO, status
// changes at WARN, panics of checks and of the change callback at ERROR.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }
