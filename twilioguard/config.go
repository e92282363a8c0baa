package twilioguard

import (
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// Config is what a Guard needs to know of the Twilio account.
type Config struct {
	// AccountSID ("AC" and 32 hex digits) and AuthToken authenticate every
	// request and sign status callbacks.
	AccountSID string
	AuthToken  string
	// From is the default sender, in E.164 form; Message.From overrides
	// it (a clinic's own number). From or MessagingServiceSID is required.
	From string
	// MessagingServiceSID ("MG" and 32 hex digits) sends through a
	// Messaging Service, which picks the sender when there is no From.
	MessagingServiceSID string
	// StatusCallback is the public URL at which StatusHandler is served,
	// as Twilio reaches it (through any proxy); "" for no callbacks.
	StatusCallback string
	// BaseURL replaces Twilio's API address, https://api.twilio.com, such
	// as a twiliotest.Server's URL; "" for Twilio.
	BaseURL string
}

// ConfigError is a Config that New refuses.
type ConfigError struct {
	Field  string // "AccountSID", "From"...
	Reason string
}

func (e *ConfigError) Error() string { return "twilioguard: Config." + e.Field + ": " + e.Reason }

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	tokenPattern      = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
)

// check validates c and returns the parsed BaseURL (nil for Twilio's).
func (c Config) check() (*url.URL, error) {
	bad := func(field, reason string) (*url.URL, error) {
		return nil, &ConfigError{Field: field, Reason: reason}
	}
	switch {
	case c.AccountSID == "":
		return bad("AccountSID", "required")
	case !accountSIDPattern.MatchString(c.AccountSID):
		return bad("AccountSID", `not "AC" and 32 hex digits`)
	case c.AuthToken == "":
		return bad("AuthToken", "required")
	case !tokenPattern.MatchString(c.AuthToken):
		return bad("AuthToken", "not alphanumeric")
	case c.From == "" && c.MessagingServiceSID == "":
		return bad("From", "From or MessagingServiceSID is required")
	case c.MessagingServiceSID != "" && !serviceSIDPattern.MatchString(c.MessagingServiceSID):
		return bad("MessagingServiceSID", `not "MG" and 32 hex digits`)
	}
	if c.From != "" {
		if err := ValidateE164(c.From); err != nil {
			return bad("From", "not an E.164 number: "+detail(err))
		}
	}
	if c.StatusCallback != "" {
		if _, err := absoluteURL(c.StatusCallback); err != "" {
			return bad("StatusCallback", err)
		}
	}
	if c.BaseURL == "" {
		return nil, nil
	}
	u, err := absoluteURL(c.BaseURL)
	if err != "" {
		return bad("BaseURL", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func absoluteURL(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, "not a URL"
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, "not an absolute http or https URL"
	case u.Fragment != "":
		return nil, "has a fragment"
	}
	return u, ""
}

// Defaults of a Guard.
const (
	// DefaultConcurrency is how many requests SendBatch has in flight.
	DefaultConcurrency = 16
	// DefaultTimeout bounds each HTTP request to Twilio, as twilio-go's
	// own client does, unless WithHTTPClient sets a Timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultLease is how long a Send may work on a delivery before
	// another Send (in any process) may take it over, reconciling first.
	DefaultLease = 2 * time.Minute
	// DefaultFailureThreshold is the share of failed recent deliveries
	// above which Check reports Degraded.
	DefaultFailureThreshold = 0.2
)

// Option configures a Guard.
type Option func(*options)

type options struct {
	httpClient  *http.Client
	breakers    *breaker.Registry[string]
	store       DeliveryStore
	sink        AuditSink
	callOpts    []safecall.Option
	concurrency int
	log         *slog.Logger
	now         func() time.Time
	lease       time.Duration
	threshold   float64
}

// WithHTTPClient sets the client whose Transport and Timeout carry the
// requests to Twilio. The default has its own connection pool (see
// CloseIdleConnections) and DefaultTimeout. Redirects are never followed.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithBreakers sets the registry of circuit breakers, keyed by
// Message.OrgID as is. Default: a registry of its own with breaker's
// default settings.
func WithBreakers(r *breaker.Registry[string]) Option { return func(o *options) { o.breakers = r } }

// WithStore sets the delivery store. Default: a MemoryStore, which keeps
// the exactly-once promise within one process only.
func WithStore(s DeliveryStore) Option { return func(o *options) { o.store = s } }

// WithAudit sets the sink of audit entries (default none).
func WithAudit(s AuditSink) Option { return func(o *options) { o.sink = s } }

// WithCallOptions appends options to those of every Send (retries,
// backoff, waits; see safecall). They follow the guard's own classifier,
// Classify, which a WithClassifier here replaces; the org's breaker is
// always the guard's.
func WithCallOptions(opts ...safecall.Option) Option {
	return func(o *options) { o.callOpts = append(o.callOpts, opts...) }
}

// WithConcurrency sets how many requests SendBatch has in flight at most
// (default DefaultConcurrency; n < 1 keeps it).
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithLogger sets the logger (default none). Entries carry org IDs, keys,
// masked numbers, classes and Twilio codes; never a full number, a body,
// a credential or Twilio's error text.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock of deliveries, leases and audit entries
// (default time.Now); breakers keep their own.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithLease sets how long a Send may work on a delivery before another
// Send may take it over (default DefaultLease). It must be longer than an
// attempt with its retries can last: a takeover while the first request is
// still in flight could send the message twice.
func WithLease(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lease = d
		}
	}
}

// WithFailureThreshold sets the share of failed recent deliveries (0 to
// 1) above which Check reports Degraded (default DefaultFailureThreshold).
func WithFailureThreshold(ratio float64) Option {
	return func(o *options) {
		if ratio > 0 && ratio <= 1 {
			o.threshold = ratio
		}
	}
}

// New returns a Guard for the account of cfg. A Config that cannot work is
// a *ConfigError naming the field. New makes no request and starts no
// goroutine.
func New(cfg Config, opts ...Option) (*Guard, error) {
	base, err := cfg.check()
	if err != nil {
		return nil, err
	}
	o := options{concurrency: DefaultConcurrency, now: time.Now, lease: DefaultLease, threshold: DefaultFailureThreshold}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	g := &Guard{
		cfg:         cfg,
		base:        base,
		creds:       client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		edge:        os.Getenv("TWILIO_EDGE"),
		region:      os.Getenv("TWILIO_REGION"),
		timeout:     DefaultTimeout,
		breakers:    o.breakers,
		store:       o.store,
		sink:        o.sink,
		concurrency: o.concurrency,
		log:         o.log,
		now:         o.now,
		lease:       o.lease,
		validator:   client.NewRequestValidator(cfg.AuthToken),
	}
	g.recent.threshold = o.threshold
	switch {
	case o.httpClient != nil:
		g.transport, g.timeout = o.httpClient.Transport, o.httpClient.Timeout
		if g.transport == nil {
			g.transport = http.DefaultTransport
		}
	default:
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = max(4*DefaultConcurrency, 2*o.concurrency)
		g.transport, g.pool = t, t
	}
	if g.breakers == nil {
		g.breakers = breaker.NewRegistry[string](breaker.Settings{})
	}
	if g.store == nil {
		g.store = &MemoryStore{}
	}
	g.callOpts = append([]safecall.Option{safecall.WithClassifier(Classify)}, o.callOpts...)
	return g, nil
}
