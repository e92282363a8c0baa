package health

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// Aggregator runs a fixed set of Checks and serves their Report. Reports are
// cached for the configured TTL and concurrent callers share one run. New
// starts no goroutine; Run starts one per check for the duration of a run.
// An Aggregator is safe for concurrent use.
type Aggregator struct {
	checks []Check
	states []*checkState // parallel to checks, shared with ready
	cfg    config
	ready  *Aggregator // critical checks only; nil for the readiness aggregator itself

	cur atomic.Pointer[snapshot] // the latest report, possibly expired

	mu     sync.Mutex
	flight *flight // the run in progress, if any
	seq    uint64  // number of the latest report

	notifyMu    sync.Mutex
	notified    Report // the latest report considered by notify
	notifiedSeq uint64

	// Header values shared by all responses (never modified).
	ctJSON, ctHealthJSON, noStore, vary []string
}

var _ http.Handler = (*Aggregator)(nil)

// flight is one run shared by every caller that asked while it was running.
type flight struct {
	done chan struct{}
	snap *snapshot
}

// New returns an Aggregator for checks. The slice is copied; checks with a
// zero Timeout get the default timeout.
func New(checks []Check, opts ...Option) *Aggregator {
	cfg := newConfig(opts)
	states := make([]*checkState, len(checks))
	for i := range states {
		states[i] = new(checkState)
	}
	a := newAggregator(checks, states, cfg)
	var (
		critical       []Check
		criticalStates []*checkState
	)
	for i, c := range a.checks {
		if c.Critical {
			critical = append(critical, c)
			criticalStates = append(criticalStates, states[i])
		}
	}
	readyCfg := cfg
	// Status changes and panics are reported once, by the full aggregator.
	readyCfg.onChange, readyCfg.logger = nil, nil
	a.ready = newAggregator(critical, criticalStates, readyCfg)
	return a
}

func newAggregator(checks []Check, states []*checkState, cfg config) *Aggregator {
	a := &Aggregator{
		checks:       make([]Check, len(checks)),
		states:       states,
		cfg:          cfg,
		ctJSON:       []string{"application/json"},
		ctHealthJSON: []string{"application/health+json"},
		noStore:      []string{"no-store"},
		vary:         []string{"Accept"},
	}
	copy(a.checks, checks)
	for i := range a.checks {
		if a.checks[i].Timeout <= 0 {
			a.checks[i].Timeout = cfg.defaultTimeout
		}
	}
	return a
}

// Run returns the current Report: the cached one while it is fresh,
// otherwise the result of running every check concurrently, shared with any
// other caller that asks meanwhile. The run is bounded by the checks'
// timeouts. The values of ctx reach the checks; if ctx is done before the
// run completes, Run returns at once with a report in which every check
// failed with ctx's error, while the shared run goes on to be cached.
// Callers share the report's slices and maps: treat them as read-only.
func (a *Aggregator) Run(ctx context.Context) Report {
	s := a.snapshot(ctx)
	if s == nil {
		return a.abandoned(context.Cause(ctx))
	}
	return s.report
}

// snapshot returns a fresh snapshot, or nil if ctx is done first.
func (a *Aggregator) snapshot(ctx context.Context) *snapshot {
	if s := a.cur.Load(); s != nil && a.cfg.now().Before(s.expires) {
		return s
	}
	a.mu.Lock()
	if s := a.cur.Load(); s != nil && a.cfg.now().Before(s.expires) {
		a.mu.Unlock()
		return s
	}
	f := a.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		a.flight = f
		go a.fly(context.WithoutCancel(ctx), f)
	}
	a.mu.Unlock()
	select {
	case <-f.done:
		return f.snap
	case <-ctx.Done():
		return nil
	}
}

// fly runs the checks for f, publishes the report and notifies changes.
func (a *Aggregator) fly(ctx context.Context, f *flight) {
	r := a.runChecks(ctx)
	s := newSnapshot(r, r.Timestamp.Add(a.cfg.cacheTTL))
	a.mu.Lock()
	a.seq++
	s.seq = a.seq
	a.cur.Store(s)
	a.flight = nil
	f.snap = s
	a.mu.Unlock()
	close(f.done)
	a.notify(ctx, s)
}

// notify reports a change of status between the last report it considered
// and s. A report older than that one arrives too late and is ignored, so
// changes are reported in order, each once.
func (a *Aggregator) notify(ctx context.Context, s *snapshot) {
	if a.cfg.onChange == nil && a.cfg.logger == nil {
		return
	}
	a.notifyMu.Lock()
	defer a.notifyMu.Unlock()
	if s.seq <= a.notifiedSeq {
		return
	}
	old := a.notified
	a.notified, a.notifiedSeq = s.report, s.seq
	if old.Status == s.report.Status {
		return
	}
	if l := a.cfg.logger; l != nil {
		if old.Status == "" {
			l.LogAttrs(ctx, slog.LevelInfo, "health status", slog.String("status", string(s.report.Status)))
		} else {
			l.LogAttrs(ctx, slog.LevelWarn, "health status changed",
				slog.String("from", string(old.Status)), slog.String("to", string(s.report.Status)))
		}
	}
	if a.cfg.onChange != nil {
		a.callOnChange(ctx, old, s.report)
	}
}

// callOnChange calls the change callback, logging a panic rather than
// letting it end the process.
func (a *Aggregator) callOnChange(ctx context.Context, old, new Report) {
	defer func() {
		if p := recover(); p != nil && a.cfg.logger != nil {
			a.cfg.logger.LogAttrs(ctx, slog.LevelError, "health change callback panicked",
				slog.String("panic", redact(fmt.Sprint(p))))
		}
	}()
	a.cfg.onChange(old, new)
}

// abandoned is the report for a caller whose context ended before the run.
func (a *Aggregator) abandoned(err error) Report {
	now := a.cfg.now()
	results := make([]Result, len(a.checks))
	for i, c := range a.checks {
		results[i] = Result{Status: Critical, Message: "health check abandoned: " + err.Error()}
		results[i] = finish(c, results[i])
	}
	return buildReport(results, nil, now, 0)
}

// Ready returns a readiness handler in the Kubernetes style (/readyz): it
// serves like the Aggregator but runs only the Critical checks, with its
// own cache of the same TTL. With no critical check it always answers 200.
func (a *Aggregator) Ready() http.Handler {
	if a.ready == nil {
		return a
	}
	return a.ready
}

// Live returns a liveness handler in the Kubernetes style (/livez): it
// answers 200 "ok" without running any check, proving only that the
// process serves HTTP.
func (a *Aggregator) Live() http.Handler { return http.HandlerFunc(serveLive) }

func serveLive(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("ok\n"))
	}
}
