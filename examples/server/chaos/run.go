package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	gcalsql "github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/safecall"
	twiliosql "github.com/voxanne/resilience/twilioguard/sqlstore"
)

// How the server is tuned for the run: vendor attempts give up after
// attemptTimeout (the timeouts the schedule injects last twice as long),
// retries come quickly, a clinic's open breaker probes again after a
// second, the outbox looks for texts to retry ten times a second.
const (
	attemptTimeout  = time.Second
	callTimeout     = 4 * time.Second
	breakerCooldown = time.Second
	outboxInterval  = 100 * time.Millisecond
	shutdownTimeout = 5 * time.Second
)

// settleLimit bounds the settling of a run of duration d: a fifth of it,
// and at least 10s (late callbacks take up to 2.2s).
func settleLimit(d time.Duration) time.Duration { return max(d/5, 10*time.Second) }

// jwtSecret signs the clinics' tokens; every instance of the run has it.
var jwtSecret = []byte("chaos-run-secret-of-sufficient-length-0123456789")

// harness is one chaos run: what it started and what it saw.
type harness struct {
	o     options
	runID string
	db    *database
	redis *redisProcess
	sb    *sandbox.Sandbox
	cfg   app.Config
	base  string

	mu  sync.Mutex
	srv *instance

	transport  *http.Transport
	client     *http.Client
	records    records
	clinics    []*clinic
	carrier    *carrier
	phones     atomic.Int64
	firstDay   time.Time
	background sync.WaitGroup // relinks

	// The harness's own view of the database.
	sqlDB      *sql.DB
	st         *store.Store
	deliveries *twiliosql.Store
	links      *gcalsql.Store

	// The bounds of the phases, set before the callers start.
	baselineStart, stormStart, stormEnd time.Time

	injected     [kinds]int
	injectErrors []string
}

// instance is one App of the run, serving until cancel.
type instance struct {
	app    *app.App
	cancel context.CancelFunc
	done   chan error
}

// phaseAt returns the phase of a request made at t, or -1 before the
// baseline (while clinics sign up).
func (r *harness) phaseAt(t time.Time) phase {
	switch {
	case r.baselineStart.IsZero() || t.Before(r.baselineStart):
		return -1
	case t.Before(r.stormStart):
		return baseline
	case t.Before(r.stormEnd):
		return storm
	}
	return settle
}

// setup starts what the server runs on and the server itself, and signs
// the clinics up.
func (r *harness) setup(ctx context.Context) error {
	var err error
	if r.db, err = openDatabase(ctx, r.o.databaseURL, r.o.ownSchema); err != nil {
		return err
	}
	redisURL := ""
	if r.o.redisServer != "" {
		if r.redis, err = startRedis(ctx, r.o.redisServer); err != nil {
			return err
		}
		redisURL = r.redis.URL()
	}
	r.sb = sandbox.Start(sandbox.Options{NoSMSLifecycle: true})
	port, err := freePort()
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if r.o.log != nil {
		logger = slog.New(slog.NewTextHandler(r.o.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	redis.SetLogger(app.RedisLog{Logger: logger}) // the dials that fail while Redis is killed
	r.cfg = app.Config{
		Addr:        fmt.Sprintf("127.0.0.1:%d", port), // pinned: callbacks go to the instance that sent the text
		DatabaseURL: r.db.url,
		RedisURL:    redisURL,
		RedisPrefix: "chaos:" + r.runID + ":",
		JWTSecret:   jwtSecret,
		Dev:         true,
		Sandbox:     r.sb,
		Logger:      logger,
		CallOptions: []safecall.Option{
			safecall.WithAttemptTimeout(attemptTimeout),
			safecall.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
			safecall.WithMaxWait(time.Second),
		},
		BreakerCooldown: breakerCooldown,
		CallTimeout:     callTimeout,
		OutboxInterval:  outboxInterval,
		Timeouts:        app.Timeouts{Shutdown: shutdownTimeout},
	}
	r.base = "http://" + r.cfg.Addr
	r.transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	r.client = &http.Client{Transport: r.transport, Timeout: 30 * time.Second}
	if err := r.startServer(ctx); err != nil {
		return err
	}
	if r.sqlDB, _, err = store.Open(r.db.url); err != nil {
		return err
	}
	dialect := store.Postgres
	if r.db.dialect == "SQLite" {
		dialect = store.SQLite
	}
	r.st = store.New(r.sqlDB, dialect, nil)
	if r.deliveries, err = twiliosql.New(r.sqlDB); err != nil {
		return err
	}
	// The audit log is read, never a token: any key opens it.
	if r.links, err = gcalsql.New(r.sqlDB, gcalsql.Key{ID: "chaos-reader", Secret: make([]byte, 32)}); err != nil {
		return err
	}
	r.carrier = newCarrier(r.sb.SMS, r.deliveries, r.o.seed)
	return r.onboard(ctx)
}

// onboard signs the clinics up and links their calendars: the first
// three meet faults, the others none.
func (r *harness) onboard(ctx context.Context) error {
	r.firstDay = time.Now().UTC().Add(24 * time.Hour).Truncate(24 * time.Hour)
	for i := range r.o.clinics {
		c := &clinic{i: i, role: calm, user: fmt.Sprintf("chaos-%s-%d", r.runID, i),
			phone: fmt.Sprintf("+1777555%04d", i), bookings: make(map[string]string), texts: make(map[string]string)}
		if i < faultyClinics {
			c.role = []role{flaky, token, outage}[i]
		}
		tok, err := r.current().DevToken(c.user, c.user+"@chaos.example", "authenticated", 24*time.Hour)
		if err != nil {
			return err
		}
		c.token = tok
		a := r.send(ctx, c, "PUT", "/api/clinic", "", r.clinicBody(c))
		if !a.ok() {
			return fmt.Errorf("sign-up of clinic %d: %d %s %v", i, a.status, a.Message, a.err)
		}
		if err := r.readOrg(ctx, c); err != nil {
			return err
		}
		if err := r.link(ctx, c); err != nil {
			return err
		}
		r.clinics = append(r.clinics, c)
	}
	return nil
}

func (r *harness) clinicBody(c *clinic) string {
	return fmt.Sprintf(`{"name":"Clinic %d (%s)","phone":%q,"timeZone":"UTC"}`, c.i, c.role, c.phone)
}

// readOrg reads the clinic's organisation, which signing up provisioned.
func (r *harness) readOrg(ctx context.Context, c *clinic) error {
	req, err := http.NewRequestWithContext(ctx, "GET", r.base+"/api/me", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var me struct {
		OrgID string `json:"orgId"`
	}
	if err := jsonDecode(resp.Body, &me); err != nil || me.OrgID == "" {
		return fmt.Errorf("clinic %d has no organisation: %v", c.i, err)
	}
	c.org = me.OrgID
	return nil
}

// startServer makes an App with the run's Config and runs it until
// stopServer. The port may still be held for a moment after a restart.
func (r *harness) startServer(ctx context.Context) error {
	var a *app.App
	var err error
	for try := 0; try < 100; try++ {
		if a, err = app.New(ctx, r.cfg); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		sleep(ctx, 20*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	inst := &instance{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { inst.done <- a.Run(rctx) }()
	r.mu.Lock()
	r.srv = inst
	r.mu.Unlock()
	return nil
}

// stopServer shuts the App down and waits for it. Idle connections of the
// callers are closed first: net/http's Shutdown waits up to five seconds
// for connections opened but never used.
func (r *harness) stopServer() error {
	r.mu.Lock()
	inst := r.srv
	r.srv = nil
	r.mu.Unlock()
	if inst == nil {
		return nil
	}
	r.transport.CloseIdleConnections()
	inst.cancel()
	return <-inst.done
}

// restart stops the server and starts a new App with the same Config:
// the same database, Redis, sandbox and port.
func (r *harness) restart(ctx context.Context) error {
	up := r.records.down()
	defer up()
	if err := r.stopServer(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return r.startServer(ctx)
}

func (r *harness) current() *app.App {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv.app
}

// exercise runs the baseline, the storm and the settling, then checks.
func (r *harness) exercise(ctx context.Context, rep *report) error {
	d := r.o.duration
	now := time.Now()
	r.baselineStart, r.stormStart = now, now.Add(d/5)
	r.stormEnd = r.stormStart.Add(3 * d / 5)
	settleBy := r.stormEnd.Add(settleLimit(d))
	events := schedule(r.o.seed, r.stormEnd.Sub(r.stormStart), r.clinics, r.o.restarts, r.redis != nil)

	bg, stopBG := context.WithCancel(ctx)
	var carrierDone sync.WaitGroup
	carrierDone.Go(func() { r.carrier.run(bg) })
	defer func() { stopBG(); carrierDone.Wait() }()

	stop := make(chan struct{})
	var callers sync.WaitGroup
	for _, c := range r.clinics {
		for k := range r.o.callers {
			w := &caller{r: r, c: c, id: k, rng: rand.New(rand.NewPCG(r.o.seed, uint64(c.i*maxCallers+k+1)))}
			callers.Go(func() { w.work(ctx, stop) })
		}
	}
	sleepUntil(ctx, r.stormStart)
	for _, e := range events {
		sleepUntil(ctx, r.stormStart.Add(e.at))
		if ctx.Err() != nil {
			break
		}
		if err := r.inject(ctx, e); err != nil {
			r.injectErrors = append(r.injectErrors, fmt.Sprintf("%s: %v", e.kind, err))
		}
		if e.kind < kinds {
			r.injected[e.kind]++
		}
	}
	sleepUntil(ctx, r.stormEnd)
	close(stop)
	callers.Wait()
	if err := r.endFaults(ctx); err != nil {
		r.injectErrors = append(r.injectErrors, "end of the faults: "+err.Error())
	}
	rep.settleTook, rep.settled = r.settle(ctx, settleBy)
	r.background.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.check(ctx, rep)
}

// teardown stops everything the run started, in reverse order.
func (r *harness) teardown() error {
	var err error
	if r.srv != nil {
		err = r.stopServer()
	}
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	if r.sb != nil {
		r.sb.Close()
	}
	if r.sqlDB != nil {
		err = errors.Join(err, r.sqlDB.Close())
	}
	if r.redis != nil {
		r.redis.kill()
	}
	if r.db != nil {
		err = errors.Join(err, r.db.cleanup())
	}
	return err
}

// run runs the whole of it and prints the report to out.
func run(ctx context.Context, o options, out io.Writer) (*report, error) {
	rep := &report{o: o}
	leaks := watchGoroutines()
	mem := watchMemory()
	r := &harness{o: o, runID: randomHex(4)}
	err := r.setup(ctx)
	if err == nil {
		rep.started = true
		err = r.exercise(ctx, rep)
	}
	err = errors.Join(err, r.teardown())
	rep.heapMax = mem.stop()
	rep.leaked, rep.leakReport = leaks.check()
	rep.addProcessChecks()
	if rep.started {
		rep.dialect, rep.redis = r.db.dialect, r.redis != nil
		rep.print(out)
	}
	return rep, err
}

func sleepUntil(ctx context.Context, t time.Time) { sleep(ctx, time.Until(t)) }
