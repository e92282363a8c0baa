package app

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// setting is one entry of the server's configuration: a flag, an
// environment variable, or both (secrets are read from the environment
// only, since flags show in process listings).
type setting struct {
	flag, env string
	secret    bool
	bool      bool
	usage     string
	set       func(c *Config, v string) error
}

var settings = []setting{
	{flag: "addr", env: "ADDR", usage: "listen address (default " + DefaultAddr + "; loopback only without JWT_SECRET or SUPABASE_JWKS_URL)",
		set: func(c *Config, v string) error { c.Addr = v; return nil }},
	{flag: "public-url", env: "PUBLIC_URL", usage: "the server's public base URL, for Google's redirect and Twilio's callbacks (required with real vendors)",
		set: func(c *Config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return checkURL(v) }},
	{flag: "database-url", env: "DATABASE_URL", usage: "postgres:// URL, or a SQLite file (default ./resilience.db)",
		set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{flag: "redis-url", env: "REDIS_URL", usage: "redis:// URL: share open circuit breakers between instances",
		set: func(c *Config, v string) error {
			c.RedisURL = v
			if _, err := redis.ParseURL(v); err != nil {
				return errors.New("not a redis:// or rediss:// URL")
			}
			return nil
		}},
	{flag: "redis-prefix", env: "REDIS_PREFIX", usage: "prefix of the breakers' Redis keys (default " + DefaultRedisPrefix + ")",
		set: func(c *Config, v string) error { c.RedisPrefix = v; return nil }},
	{env: "JWT_SECRET", secret: true, usage: "HS256 secret of users' tokens (Supabase's JWT secret, at least 32 bytes)",
		set: func(c *Config, v string) error {
			if len(v) < 32 {
				return fmt.Errorf("too short (%d bytes; at least 32)", len(v))
			}
			c.JWTSecret = []byte(v)
			return nil
		}},
	{flag: "jwks-url", env: "SUPABASE_JWKS_URL", usage: "JWK set of users' ES256/RS256 tokens (https://<project>.supabase.co/auth/v1/.well-known/jwks.json)",
		set: func(c *Config, v string) error { c.JWKSURL = v; return checkURL(v) }},
	{flag: "jwt-issuer", env: "JWT_ISSUER", usage: "iss every token must carry (https://<project>.supabase.co/auth/v1)",
		set: func(c *Config, v string) error { c.JWTIssuer = v; return nil }},
	{flag: "staff-role", env: "STAFF_ROLE", usage: "role claim of operators, who see health details and reset breakers (default " + DefaultStaffRole + ")",
		set: func(c *Config, v string) error { c.StaffRole = v; return nil }},
	{flag: "google-client-id", env: "GOOGLE_CLIENT_ID", usage: "Google OAuth client ID (unset: the sandbox calendar)",
		set: func(c *Config, v string) error { c.Google.ClientID = v; return nil }},
	{env: "GOOGLE_CLIENT_SECRET", secret: true, usage: "Google OAuth client secret",
		set: func(c *Config, v string) error { c.Google.ClientSecret = v; return nil }},
	{flag: "google-redirect-url", env: "GOOGLE_REDIRECT_URL", usage: "OAuth redirect registered with Google (default PUBLIC_URL/oauth/google/callback)",
		set: func(c *Config, v string) error { c.Google.RedirectURL = v; return checkURL(v) }},
	{env: "TOKEN_KEY", secret: true, usage: "32 random bytes, base64 or hex, that encrypt Google tokens at rest (openssl rand -base64 32)",
		set: func(c *Config, v string) error {
			k, err := decodeKey(v)
			c.TokenKey = k
			return err
		}},
	{flag: "token-key-id", env: "TOKEN_KEY_ID", usage: "name of TOKEN_KEY, stored beside each token (default 1)",
		set: func(c *Config, v string) error { c.TokenKeyID = v; return nil }},
	{flag: "twilio-account-sid", env: "TWILIO_ACCOUNT_SID", usage: "Twilio Account SID (unset: the sandbox SMS)",
		set: func(c *Config, v string) error { c.Twilio.AccountSID = v; return nil }},
	{env: "TWILIO_AUTH_TOKEN", secret: true, usage: "Twilio auth token",
		set: func(c *Config, v string) error { c.Twilio.AuthToken = v; return nil }},
	{flag: "twilio-from", env: "TWILIO_FROM", usage: "sender number, E.164",
		set: func(c *Config, v string) error { c.Twilio.From = v; return nil }},
	{flag: "twilio-messaging-service-sid", env: "TWILIO_MESSAGING_SERVICE_SID", usage: "Messaging Service that picks the sender (instead of TWILIO_FROM)",
		set: func(c *Config, v string) error { c.Twilio.MessagingServiceSID = v; return nil }},
	{flag: "sandbox", env: "SANDBOX", bool: true, usage: "vendors without settings use the in-process sandbox in production mode too (staging)",
		set: func(c *Config, v string) error { return nil }},
	{flag: "shutdown-timeout", env: "SHUTDOWN_TIMEOUT", usage: "how long requests in flight may finish at shutdown (default 15s)",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("want a duration such as 15s")
			}
			c.Timeouts.Shutdown = d
			return nil
		}},
}

// ErrHelp is returned by ParseArgs for -h: the usage was printed.
var ErrHelp = flag.ErrHelp

// ParseArgs builds a Config from command-line flags, falling back on the
// environment (getenv) for each setting, and checks it: the first missing or
// malformed setting is an error naming it, on one line. -h prints the
// settings to out and returns ErrHelp.
//
// Without JWT_SECRET and SUPABASE_JWKS_URL the Config is in Dev mode
// (loopback only, sandbox vendors unless configured). With one of them it
// is production: Google and Twilio must be configured (or -sandbox given),
// with TOKEN_KEY and PUBLIC_URL.
func ParseArgs(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	values := make(map[string]*string)
	sandboxFlag := fs.Bool("sandbox", false, "")
	for _, s := range settings {
		if s.flag != "" && !s.bool {
			values[s.flag] = fs.String(s.flag, "", s.usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(out)
			return Config{}, ErrHelp
		}
		return Config{}, fmt.Errorf("%v (-h lists the settings)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (-h lists the settings)", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var c Config
	useSandbox := *sandboxFlag
	for _, s := range settings {
		v := getenv(s.env)
		if s.flag != "" && set[s.flag] && !s.bool {
			v = *values[s.flag]
		}
		if s.bool {
			if !set[s.flag] && v != "" {
				useSandbox = v == "1" || strings.EqualFold(v, "true")
			}
			continue
		}
		if v == "" {
			continue
		}
		if err := s.set(&c, v); err != nil {
			return Config{}, fmt.Errorf("%s: %v", s.name(), err)
		}
	}
	return c, c.checkSettings(useSandbox)
}

func (s setting) name() string {
	if s.flag == "" {
		return s.env
	}
	return s.env + " (-" + s.flag + ")"
}

// checkSettings decides the mode and checks that the settings go together.
func (c *Config) checkSettings(useSandbox bool) error {
	if len(c.JWTSecret) > 0 && c.JWKSURL != "" {
		return errors.New("JWT_SECRET and SUPABASE_JWKS_URL: set one of them, not both")
	}
	c.Dev = len(c.JWTSecret) == 0 && c.JWKSURL == ""
	if c.Dev {
		if err := checkDevAddr(or(c.Addr, DefaultAddr)); err != nil {
			return err
		}
	}
	g, t := c.Google, c.Twilio
	realGoogle := g.ClientID != "" || g.ClientSecret != ""
	realTwilio := t.AccountSID != "" || t.AuthToken != "" || t.From != "" || t.MessagingServiceSID != ""
	switch {
	case realGoogle && g.ClientID == "":
		return errors.New("GOOGLE_CLIENT_ID: required with GOOGLE_CLIENT_SECRET")
	case realGoogle && g.ClientSecret == "":
		return errors.New("GOOGLE_CLIENT_SECRET: required with GOOGLE_CLIENT_ID")
	case realGoogle && len(c.TokenKey) == 0:
		return errors.New("TOKEN_KEY: required with GOOGLE_CLIENT_ID, to encrypt Google tokens at rest (openssl rand -base64 32)")
	case realTwilio && t.AccountSID == "":
		return errors.New("TWILIO_ACCOUNT_SID: required with the other TWILIO_ settings")
	case realTwilio && t.AuthToken == "":
		return errors.New("TWILIO_AUTH_TOKEN: required with TWILIO_ACCOUNT_SID")
	case realTwilio && t.From == "" && t.MessagingServiceSID == "":
		return errors.New("TWILIO_FROM: required with TWILIO_ACCOUNT_SID (or TWILIO_MESSAGING_SERVICE_SID)")
	case !c.Dev && !useSandbox && !realGoogle:
		return errors.New("GOOGLE_CLIENT_ID: required in production (JWT_SECRET or SUPABASE_JWKS_URL is set); -sandbox uses the sandbox calendar")
	case !c.Dev && !useSandbox && !realTwilio:
		return errors.New("TWILIO_ACCOUNT_SID: required in production (JWT_SECRET or SUPABASE_JWKS_URL is set); -sandbox uses the sandbox SMS")
	case (realGoogle && g.RedirectURL == "" || realTwilio) && c.PublicURL == "":
		return errors.New("PUBLIC_URL: required with real vendors, for Google's redirect and Twilio's status callbacks")
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http(s) URL")
	}
	return nil
}

// decodeKey reads 32 bytes in base64 (standard or URL alphabet, padded or
// not) or hex.
func decodeKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if k, err := hex.DecodeString(v); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("want 32 random bytes, got %d (openssl rand -base64 32)", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("want 32 random bytes in base64 or hex (openssl rand -base64 32)")
}

func printUsage(out io.Writer) {
	fmt.Fprint(out, `Usage: server [flags]

The reference server of github.com/voxanne/resilience. With no settings it runs
in development mode: SQLite in ./resilience.db, Google Calendar and Twilio
sandboxes in-process, a random JWT secret, tokens printed, loopback only.
With JWT_SECRET or SUPABASE_JWKS_URL it runs in production mode.

Settings (a flag wins over its environment variable; secrets come from the
environment only):

`)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, s := range settings {
		flagName := "(environment only)"
		if s.flag != "" {
			flagName = "-" + s.flag
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.env, flagName, s.usage)
	}
	_ = tw.Flush()
	fmt.Fprint(out, `
A missing or malformed setting stops the server with one line naming it.
`)
}
