package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
	gcalsql "github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/tenant"
	tenantsql "github.com/voxanne/resilience/tenant/sqlstore"
	"github.com/voxanne/resilience/twilioguard"
	twiliosql "github.com/voxanne/resilience/twilioguard/sqlstore"
)

// App is one instance of the reference server. New builds it (listening,
// migrated, wired); Run serves until its context ends and then shuts down.
// Several Apps may run in one process, on one database and one Redis.
type App struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	ln  net.Listener
	url string
	srv *http.Server

	db          *sql.DB
	store       *store.Store
	tenants     *tenantsql.Store
	links       *gcalsql.Store
	deliveries  *twiliosql.Store
	rdb         *redis.Client
	shared      []*redisstore.Store
	calBreakers *breaker.Registry[string]
	smsBreakers *breaker.Registry[string]
	calendar    *gcal.Client
	sms         *twilioguard.Guard
	sandbox     *sandbox.Sandbox
	ownSandbox  bool
	health      *health.Aggregator
	verifier    tenant.Verifier
	secret      []byte // the HS256 secret, for DevToken
	metrics     *metrics

	draining  atomic.Bool
	running   atomic.Bool
	closeOnce sync.Once
	closers   []func() error
}

// sandboxTokenKey encrypts the sandbox's fake Google tokens when no
// TOKEN_KEY is given; it is public, and so are the tokens it protects.
var sandboxTokenKey = sha256.Sum256([]byte("resilience sandbox token key: the tokens are fakes"))

// New builds an App from cfg: it listens, opens and migrates the database,
// connects to Redis, starts the sandbox if a vendor needs it, and wires
// the routes. It starts no background work: Run does.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	cfg.setDefaults()
	a := &App{cfg: cfg, log: cfg.Logger, now: cfg.Now, metrics: newMetrics()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			_ = a.closeAll()
		}
	}()
	if err := a.listen(); err != nil {
		return nil, err
	}
	if err := a.openStores(ctx); err != nil {
		return nil, err
	}
	if err := a.connectRedis(); err != nil {
		return nil, err
	}
	if err := a.verifierFromConfig(); err != nil {
		return nil, err
	}
	a.calBreakers = a.breakers("calendar", 0)
	a.smsBreakers = a.breakers("sms", 1)
	if err := a.vendors(); err != nil {
		return nil, err
	}
	a.health = a.healthChecks()
	a.srv = &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
		ReadTimeout:       cfg.Timeouts.Read,
		WriteTimeout:      cfg.Timeouts.Write,
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    cfg.Timeouts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// listen takes over cfg.Listener or listens on cfg.Addr, loopback only in
// Dev mode.
func (a *App) listen() error {
	addr := a.cfg.Addr
	if a.cfg.Listener != nil {
		addr = a.cfg.Listener.Addr().String()
	}
	if a.cfg.Dev {
		if err := checkDevAddr(addr); err != nil {
			if a.cfg.Listener != nil {
				_ = a.cfg.Listener.Close()
			}
			return err
		}
	}
	a.ln = a.cfg.Listener
	if a.ln == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("ADDR (-addr): %w", err)
		}
		a.ln = ln
	}
	a.closers = append(a.closers, func() error {
		if err := a.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	a.url = a.cfg.PublicURL
	if a.url == "" {
		a.url = "http://" + a.ln.Addr().String()
	}
	return nil
}

// openStores opens the database and migrates the tables of every store.
func (a *App) openStores(ctx context.Context) error {
	db, dialect, err := store.Open(a.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	a.db = db
	a.closers = append(a.closers, db.Close)
	a.store = store.New(db, dialect, a.now)
	if a.tenants, err = tenantsql.New(db); err != nil {
		return err
	}
	key := a.cfg.TokenKey
	if len(key) == 0 {
		if a.cfg.Google.ClientID != "" {
			return errors.New("TOKEN_KEY: required with a Google client, to encrypt tokens at rest")
		}
		key = sandboxTokenKey[:]
	}
	if a.links, err = gcalsql.New(db, gcalsql.Key{ID: a.cfg.TokenKeyID, Secret: key}); err != nil {
		return fmt.Errorf("TOKEN_KEY: %w", err)
	}
	deliveries, err := twiliosql.New(db)
	if err != nil {
		return err
	}
	for _, m := range []interface{ Migrate(context.Context) error }{a.tenants, a.links, deliveries, a.store} {
		if err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("DATABASE_URL: migrate: %w", err)
		}
	}
	a.deliveries = deliveries
	return nil
}

// connectRedis connects to cfg.RedisURL, if set, with a store per vendor
// that shares the vendor's open breakers.
func (a *App) connectRedis() error {
	if a.cfg.RedisURL == "" {
		return nil
	}
	opts, err := redis.ParseURL(a.cfg.RedisURL)
	if err != nil {
		return errors.New("REDIS_URL: not a redis:// URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, time.Second, time.Second
	a.rdb = redis.NewClient(opts)
	a.closers = append(a.closers, a.rdb.Close)
	for _, vendor := range []string{"calendar", "sms"} {
		a.shared = append(a.shared, redisstore.New(a.rdb,
			redisstore.WithPrefix(a.cfg.RedisPrefix+vendor+":"), redisstore.WithLogger(a.log.With("vendor", vendor))))
	}
	return nil
}

// breakers makes the registry of one vendor's breakers, one per clinic,
// shared through Redis when configured.
func (a *App) breakers(vendor string, i int) *breaker.Registry[string] {
	s := breaker.Settings{
		Cooldown:    a.cfg.BreakerCooldown,
		MaxCooldown: 4 * a.cfg.BreakerCooldown,
		Now:         a.now,
		OnStateChange: func(t breaker.Transition) {
			a.metrics.transition(vendor, t)
			shared := errors.Is(t.Cause, breaker.ErrShared)
			a.log.Warn("breaker "+t.To.String(), "vendor", vendor, "org", t.Key, "from", t.From.String(), "shared", shared)
		},
	}
	if a.shared != nil {
		s.Store = a.shared[i]
	}
	r := breaker.NewRegistry[string](s)
	a.metrics.watchOpenBreakers(vendor, r)
	return r
}

// stateKey derives the key that signs Google link requests from the token
// key: every instance with the same TOKEN_KEY accepts the others' links.
func (a *App) stateKey() []byte {
	key := a.cfg.TokenKey
	if len(key) == 0 {
		key = sandboxTokenKey[:]
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gcal link state"))
	return m.Sum(nil)
}

// URL returns the server's base URL, as PublicURL or from its listener.
func (a *App) URL() string { return a.url }

// Addr returns the address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Handler returns the server's HTTP handler.
func (a *App) Handler() http.Handler { return a.srv.Handler }

// Sandbox returns the sandbox the App uses, or nil when both vendors are
// real.
func (a *App) Sandbox() *sandbox.Sandbox { return a.sandbox }

// Breakers returns the registry of a vendor's breakers ("calendar" or
// "sms"), or nil.
func (a *App) Breakers(vendor string) *breaker.Registry[string] {
	switch vendor {
	case "calendar":
		return a.calBreakers
	case "sms":
		return a.smsBreakers
	}
	return nil
}

// Run serves until ctx ends, with the background work of the App: the
// Redis watchers that share breakers and the outbox that retries texts.
// Then it shuts down gracefully: the listener closes, readiness fails,
// requests in flight finish within Timeouts.Shutdown, the background work
// stops and the stores close. It returns nil after a shutdown asked by ctx.
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("app: Run called twice")
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for i, s := range a.shared {
		reg := []*breaker.Registry[string]{a.calBreakers, a.smsBreakers}[i]
		wg.Go(func() { _ = s.Watch(bg, reg.Sync) })
	}
	wg.Go(func() { a.runOutbox(bg) })

	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	a.log.Info("listening", "url", a.url, "addr", a.ln.Addr().String(), "dev", a.cfg.Dev,
		"calendar", a.vendorMode(a.cfg.Google.ClientID != ""), "sms", a.vendorMode(a.cfg.Twilio.AccountSID != ""),
		"redis", a.rdb != nil)

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	start := time.Now()
	a.draining.Store(true)
	a.log.Info("shutting down", "timeout", a.cfg.Timeouts.Shutdown)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Timeouts.Shutdown)
	err := a.srv.Shutdown(sctx)
	cancel()
	if err != nil {
		a.log.Warn("requests still in flight at the shutdown timeout were cut off", "timeout", a.cfg.Timeouts.Shutdown)
		_ = a.srv.Close()
	}
	if serveErr == nil {
		serveErr = <-errc
	}
	stopBG()
	wg.Wait()
	closeErr := a.closeAll()
	a.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, closeErr)
}

func (a *App) vendorMode(real bool) string {
	if real {
		return "real"
	}
	return "sandbox"
}

// Close releases what New acquired, for an App whose Run was not called
// (Run closes its App itself). It is safe to call more than once.
func (a *App) Close() error {
	if a.srv != nil && !a.running.Load() {
		_ = a.srv.Close()
	}
	return a.closeAll()
}

func (a *App) closeAll() error {
	var err error
	a.closeOnce.Do(func() {
		if a.ownSandbox && a.sandbox != nil {
			a.sandbox.Close()
		}
		for i := len(a.closers) - 1; i >= 0; i-- {
			err = errors.Join(err, a.closers[i]())
		}
	})
	return err
}

// randomSecret returns n random bytes.
func randomSecret(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
