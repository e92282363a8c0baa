package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// runChecks runs every check concurrently and builds the report.
func (a *Aggregator) runChecks(ctx context.Context) Report {
	start := a.cfg.now()
	results := make([]Result, len(a.checks))
	durations := make([]time.Duration, len(a.checks))
	var wg sync.WaitGroup
	for i := range a.checks {
		wg.Go(func() { results[i], durations[i] = a.runOne(ctx, a.checks[i], a.states[i]) })
	}
	wg.Wait()
	end := a.cfg.now()
	return buildReport(results, durations, end, end.Sub(start))
}

// checkState holds the run of one check that is out, if any. The report
// and readiness share it, so a check has at most one run out at a time.
type checkState struct {
	mu  sync.Mutex
	run *checkRun
}

// checkRun is one run of a check's Func, in its own goroutine.
type checkRun struct {
	ctx     context.Context // done when the check's timeout has passed
	started time.Time
	done    chan struct{} // closed when Func has returned
	result  Result        // set before done is closed
}

// runOne waits for a run of c: a new one, or the one already out within
// its timeout. A run that is still out past its timeout is not joined and
// no other is started: the result says so.
func (a *Aggregator) runOne(ctx context.Context, c Check, st *checkState) (Result, time.Duration) {
	start := a.cfg.now()
	run, overdue := a.start(ctx, c, st, start)
	if overdue {
		return finish(c, notReturned(c, start.Sub(run.started))), 0
	}
	select {
	case <-run.done:
	case <-run.ctx.Done():
	}
	// A run that has ended releases its context too: its result wins.
	var r Result // the zero Result while the run is out
	select {
	case <-run.done:
		r = run.result
	default:
	}
	// A run still out at its deadline, or one that failed once the deadline
	// had passed (typically handing back ctx.Err()), timed out: say so.
	if r.Status != Healthy && errors.Is(context.Cause(run.ctx), errTimeout) {
		r = timedOut(c)
	}
	return finish(c, r), a.cfg.now().Sub(start)
}

// start returns the run of c that is out, and whether it is overdue, or
// starts one. The goroutine of a run only ever blocks in c.Func: it
// publishes its result by closing a channel, even after c has timed out.
func (a *Aggregator) start(ctx context.Context, c Check, st *checkState, now time.Time) (run *checkRun, overdue bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if run := st.run; run != nil {
		return run, run.ctx.Err() != nil
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errTimeout)
	run = &checkRun{ctx: runCtx, started: now, done: make(chan struct{})}
	st.run = run
	go func() {
		r := Result{Status: Critical, Message: "check exited without a result"}
		defer func() {
			st.mu.Lock()
			st.run = nil
			st.mu.Unlock()
			run.result = r
			close(run.done)
			cancel()
		}()
		r = a.call(runCtx, c)
	}()
	return run, false
}

var errTimeout = errors.New("health: check timed out")

// call runs c.Func, turning a panic into a failed Result.
func (a *Aggregator) call(ctx context.Context, c Check) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			text := redact(fmt.Sprint(p))
			r = Result{
				Status:  Critical,
				Message: "check panicked",
				Details: map[string]any{"panic": text},
			}
			if l := a.cfg.logger; l != nil {
				l.LogAttrs(ctx, slog.LevelError, "health check panicked",
					slog.String("check", c.Name), slog.String("panic", text))
			}
		}
	}()
	if c.Func == nil {
		return Result{Status: Critical, Message: "check has no Func"}
	}
	return c.Func(ctx)
}

// notReturned is the result of a check whose previous run has been out for
// d, past its timeout.
func notReturned(c Check, d time.Duration) Result {
	return Result{
		Status: Critical,
		Message: fmt.Sprintf("check not started: its previous run has not returned after %s (timeout %s)",
			d.Round(time.Millisecond), c.Timeout),
		Recommendation: c.Name + " does not return when its timeout has passed: make its check return when its context is done",
	}
}

func timedOut(c Check) Result {
	return Result{
		Status:         Critical,
		Message:        "check timed out after " + c.Timeout.String(),
		Recommendation: c.Name + " is not answering within " + c.Timeout.String() + "; check its connectivity and latency",
	}
}

// finish names r after c, turns an unknown status into a failure, caps a
// non-critical check's failure at Degraded and redacts the texts that every
// caller sees.
func finish(c Check, r Result) Result {
	r.Name = c.Name
	if !r.Status.valid() {
		msg := fmt.Sprintf("check returned invalid status %q", r.Status)
		if r.Message != "" {
			msg += ": " + r.Message
		}
		r.Status, r.Message = Critical, msg
	}
	if r.Status == Critical && !c.Critical {
		r.Status = Degraded
	}
	r.Message, r.Recommendation = redact(r.Message), redact(r.Recommendation)
	return r
}

// buildReport folds results, in check order, into a Report.
func buildReport(results []Result, durations []time.Duration, at time.Time, elapsed time.Duration) Report {
	r := Report{
		Status:          Healthy,
		Timestamp:       at,
		ElapsedMs:       elapsed.Milliseconds(),
		Integrations:    results,
		Recommendations: []string{},
		durations:       durations,
	}
	if r.Integrations == nil {
		r.Integrations = []Result{}
	}
	seen := make(map[string]struct{})
	for _, res := range results {
		switch res.Status {
		case Healthy:
			r.Summary.Healthy++
		case Degraded:
			r.Summary.Degraded++
		default:
			r.Summary.Critical++
		}
		if res.Status.rank() > r.Status.rank() {
			r.Status = res.Status
		}
		if rec := res.Recommendation; rec != "" {
			if _, dup := seen[rec]; !dup {
				seen[rec] = struct{}{}
				r.Recommendations = append(r.Recommendations, rec)
			}
		}
	}
	return r
}
