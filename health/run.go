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
		wg.Go(func() { results[i], durations[i] = a.runOne(ctx, a.checks[i]) })
	}
	wg.Wait()
	end := a.cfg.now()
	return buildReport(results, durations, end, end.Sub(start))
}

// runOne runs c in its own goroutine, which reports on a channel of
// capacity 1 so that it can always finish, even after c has timed out.
func (a *Aggregator) runOne(ctx context.Context, c Check) (Result, time.Duration) {
	start := a.cfg.now()
	ctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errTimeout)
	defer cancel()
	ch := make(chan Result, 1)
	go func() {
		r := Result{Status: Critical, Message: "check exited without a result"}
		defer func() { ch <- r }()
		r = a.call(ctx, c)
	}()
	var r Result
	select {
	case r = <-ch:
		// A failure reported once the deadline has passed is the timeout
		// itself (typically ctx.Err() handed back): say so plainly.
		if r.Status != Healthy && errors.Is(context.Cause(ctx), errTimeout) {
			r = timedOut(c)
		}
	case <-ctx.Done():
		r = timedOut(c)
	}
	return finish(c, r), a.cfg.now().Sub(start)
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
