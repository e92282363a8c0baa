// Package app is the reference server of the resilience module: an AI
// receptionist's backend that books into each clinic's Google Calendar,
// texts patients through Twilio, keeps every clinic's outage to itself and
// explains its health. main is a thin wrapper around it; tests, the load
// command and the chaos command start it in-process, several instances at
// once if they like.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/safecall"
)

// Config is what New needs. The zero value is a development server on
// 127.0.0.1:8080 with SQLite in the working directory and the sandbox
// vendors; ParseArgs builds one from flags and the environment.
type Config struct {
	// Addr is where to listen when Listener is nil (default
	// DefaultAddr).
	Addr string
	// Listener, if set, is where the server listens; New takes it over.
	Listener net.Listener
	// PublicURL is the server's address as browsers, Google and Twilio
	// reach it: the base of the OAuth redirect and of Twilio's status
	// callbacks. "" means http:// and the listener's address.
	PublicURL string

	// DatabaseURL is a postgres:// URL or a SQLite DSN; "" is a SQLite
	// file, resilience.db, in the working directory.
	DatabaseURL string
	// RedisURL, if set, shares open circuit breakers between instances
	// through Redis (redisstore), under RedisPrefix (default
	// DefaultRedisPrefix).
	RedisURL    string
	RedisPrefix string

	// JWTSecret (HS256, at least 32 bytes) or JWKSURL (ES256/RS256,
	// Supabase's .well-known/jwks.json) verifies users' tokens. In Dev
	// mode without either, a random secret is made for the run.
	JWTSecret []byte
	JWKSURL   string
	// JWTIssuer, if set, is the iss every token must carry.
	JWTIssuer string
	// StaffRole is the role claim of operators: they see health details,
	// every clinic on the status page, and may reset breakers (default
	// DefaultStaffRole).
	StaffRole string

	// Dev is development mode: the server listens on loopback only, may
	// make its own JWT secret and mints tokens (DevToken), and serves
	// POST /api/dev/faults to script the sandbox.
	Dev bool

	// Google is the OAuth client of the Google Calendar integration; the
	// zero value books into the sandbox.
	Google GoogleConfig
	// Twilio is the Twilio account; the zero value texts through the
	// sandbox.
	Twilio TwilioConfig
	// TokenKey (32 bytes) encrypts Google tokens at rest and signs link
	// requests; required with a real Google client. TokenKeyID names it
	// (default "1").
	TokenKey   []byte
	TokenKeyID string

	// Sandbox, if set, is the sandbox the vendors without configuration
	// use, shared with other instances; otherwise New starts one of its
	// own with SandboxOptions when it needs one, and Close stops it.
	Sandbox        *sandbox.Sandbox
	SandboxOptions sandbox.Options

	// Logger receives the access log and the server's events (nil: none).
	Logger *slog.Logger
	// Now is the clock of breakers, health reports, deliveries and
	// bookings (nil: time.Now).
	Now func() time.Time
	// CallOptions are added to every vendor call (tests shorten backoffs).
	CallOptions []safecall.Option
	// BreakerCooldown is how long a clinic's open breaker rejects calls
	// before a probe (default 30s; a failed probe doubles it up to 4x).
	BreakerCooldown time.Duration
	// CallTimeout bounds the vendor calls of one request, retries
	// included (default 10s), so that a caller on the phone is answered.
	CallTimeout time.Duration
	// OutboxInterval is how often texts not yet accepted by Twilio are
	// tried again (default 5s).
	OutboxInterval time.Duration
	// Timeouts bound slow clients and shutdown.
	Timeouts Timeouts
}

// GoogleConfig is a Google OAuth client (console.cloud.google.com).
type GoogleConfig struct {
	ClientID, ClientSecret string
	// RedirectURL is the callback registered with Google; "" is
	// PublicURL + "/oauth/google/callback".
	RedirectURL string
}

// TwilioConfig is a Twilio account.
type TwilioConfig struct {
	AccountSID, AuthToken string
	// From (E.164) or MessagingServiceSID sends the texts.
	From, MessagingServiceSID string
}

// Timeouts bound what clients may hold. Zero fields take the defaults.
type Timeouts struct {
	ReadHeader time.Duration // default 5s
	Read       time.Duration // a whole request, body included; default 15s
	Write      time.Duration // default 30s
	Idle       time.Duration // a kept-alive connection; default 60s
	// Shutdown bounds the wait for requests in flight at shutdown
	// (default 15s).
	Shutdown time.Duration
	// MaxHeaderBytes bounds request headers (default 32 KiB).
	MaxHeaderBytes int
}

// Defaults.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultRedisPrefix = "resilience:breakers:"
	DefaultStaffRole   = "staff"
	// MaxBodyBytes bounds the JSON bodies the API reads.
	MaxBodyBytes = 64 << 10
)

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.RedisPrefix == "" {
		c.RedisPrefix = DefaultRedisPrefix
	}
	if c.StaffRole == "" {
		c.StaffRole = DefaultStaffRole
	}
	if c.TokenKeyID == "" {
		c.TokenKeyID = "1"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = 30 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.OutboxInterval <= 0 {
		c.OutboxInterval = 5 * time.Second
	}
	t := &c.Timeouts
	t.ReadHeader = orDuration(t.ReadHeader, 5*time.Second)
	t.Read = orDuration(t.Read, 15*time.Second)
	t.Write = orDuration(t.Write, 30*time.Second)
	t.Idle = orDuration(t.Idle, 60*time.Second)
	t.Shutdown = orDuration(t.Shutdown, 15*time.Second)
	if t.MaxHeaderBytes <= 0 {
		t.MaxHeaderBytes = 32 << 10
	}
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ErrPublicDevMode is returned by New for a development server asked to
// listen beyond loopback.
var ErrPublicDevMode = errors.New("dev mode listens on loopback only")

// checkDevAddr refuses a development server on an address other machines
// reach: its sandbox, faults endpoint and printed tokens are for one
// developer's machine.
func checkDevAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsLoopback() {
		return nil
	}
	shown := addr
	if host == "" {
		shown = "every interface (" + addr + ")"
	}
	return fmt.Errorf("%w: without JWT_SECRET or SUPABASE_JWKS_URL, listening on %s would give anyone on the network "+
		"the sandbox, its faults endpoint and tokens minted by this server; set one of them to serve other machines, "+
		"or use -addr 127.0.0.1:8080", ErrPublicDevMode, shown)
}
