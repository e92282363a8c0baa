package gcal

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// Defaults of the options.
const (
	// DefaultRefreshSkew: a token that expires within it is refreshed
	// before use.
	DefaultRefreshSkew = 5 * time.Minute
	// DefaultStateTTL is how long a link request (AuthURL) can be
	// completed.
	DefaultStateTTL = 10 * time.Minute
	// DefaultHTTPTimeout bounds each request of the default HTTP client.
	DefaultHTTPTimeout = 30 * time.Second
)

// Option configures a Client.
type Option func(*options)

type options struct {
	endpoint    string
	httpClient  *http.Client
	skew        time.Duration
	breakers    *breaker.Registry[string]
	callOpts    []safecall.Option
	stateKey    []byte
	stateTTL    time.Duration
	audit       AuditSink
	logger      *slog.Logger
	revokeURL   *string
	userMessage string
}

// WithEndpoint sets the base URL of the Calendar API (default Google's,
// https://www.googleapis.com/calendar/v3/); a fake's URL in tests.
func WithEndpoint(baseURL string) Option { return func(o *options) { o.endpoint = baseURL } }

// WithHTTPClient sets the HTTP client of token and API requests (default:
// a client with DefaultHTTPTimeout). Its Transport should not add
// authorization: the Client does.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithRefreshSkew sets how long before its expiry a token is refreshed
// (default DefaultRefreshSkew; negative counts as 0). Keep it above the
// longest call, retries included.
func WithRefreshSkew(d time.Duration) Option {
	return func(o *options) { o.skew = max(d, 0) }
}

// WithBreakers sets the circuit breakers, one per organisation ID (default:
// a registry of the Client's own, with breaker defaults). Google's 401s and
// rate limits are reported to them as neither success nor failure, its
// other 4xx as successes (Google answered).
func WithBreakers(r *breaker.Registry[string]) Option { return func(o *options) { o.breakers = r } }

// WithCallOptions appends opts to the options of every safecall.Call the
// Client makes (token refreshes and API requests), after its own: they can
// change retries, backoff and waits, or add a classifier of their own.
func WithCallOptions(opts ...safecall.Option) Option {
	return func(o *options) { o.callOpts = append(o.callOpts, opts...) }
}

// WithStateKey sets the key that signs the state of link requests and
// derives their PKCE verifiers: at least 32 random bytes, the same on every
// instance of a service so that the callback may land on any of them.
// Without it, AuthURL and Exchange fail with ErrNoStateKey.
func WithStateKey(key []byte) Option {
	return func(o *options) { o.stateKey = append([]byte(nil), key...) }
}

// WithStateTTL sets how long a link request can be completed (default
// DefaultStateTTL).
func WithStateTTL(d time.Duration) Option { return func(o *options) { o.stateTTL = d } }

// WithAudit sets where credential accesses are recorded (default none).
func WithAudit(a AuditSink) Option { return func(o *options) { o.audit = a } }

// WithLogger sets the logger (default none). Tokens are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRevokeURL sets the OAuth revocation endpoint that Unlink calls; ""
// disables revocation. The default is the token URL of the oauth2.Config
// with its last path element replaced by "revoke" (Google's
// https://oauth2.googleapis.com/revoke, or a gcaltest server's).
func WithRevokeURL(u string) Option { return func(o *options) { o.revokeURL = &u } }

// WithUserMessage sets the sentence safecall.UserMessage gives for a
// booking that failed because the organisation must link (or link again)
// its calendar (default DefaultUserMessage).
func WithUserMessage(msg string) Option { return func(o *options) { o.userMessage = msg } }

// DefaultUserMessage is what safecall.UserMessage says of a call that
// failed for want of a working link.
const DefaultUserMessage = "I can't reach the calendar right now, so I can't book this myself. " +
	"I'll make sure someone from the team follows up with you."
