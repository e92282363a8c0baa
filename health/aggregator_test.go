package health_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

// returns is a check function that reports status with message msg.
func returns(status health.Status, msg string) func(context.Context) health.Result {
	return func(context.Context) health.Result { return health.Result{Status: status, Message: msg} }
}

// sleeps is a check function that takes d (or fails when its context ends first).
func sleeps(d time.Duration, calls *atomic.Int64) func(context.Context) health.Result {
	return func(ctx context.Context) health.Result {
		if calls != nil {
			calls.Add(1)
		}
		select {
		case <-time.After(d):
			return health.Result{Status: health.Healthy, Message: "ok"}
		case <-ctx.Done():
			return health.Result{Status: health.Critical, Message: ctx.Err().Error()}
		}
	}
}

func TestRunStatusCombinations(t *testing.T) {
	type check struct {
		critical bool
		status   health.Status
	}
	tests := []struct {
		name    string
		checks  []check
		want    health.Status
		summary health.Summary
		results []health.Status // per check, as reported
	}{
		{"no checks", nil, health.Healthy, health.Summary{}, nil},
		{"all healthy", []check{{true, health.Healthy}, {false, health.Healthy}},
			health.Healthy, health.Summary{Healthy: 2}, []health.Status{health.Healthy, health.Healthy}},
		{"critical check degraded", []check{{true, health.Degraded}, {false, health.Healthy}},
			health.Degraded, health.Summary{Healthy: 1, Degraded: 1}, []health.Status{health.Degraded, health.Healthy}},
		{"critical check critical", []check{{true, health.Critical}, {false, health.Healthy}},
			health.Critical, health.Summary{Healthy: 1, Critical: 1}, []health.Status{health.Critical, health.Healthy}},
		{"non-critical check degraded", []check{{true, health.Healthy}, {false, health.Degraded}},
			health.Degraded, health.Summary{Healthy: 1, Degraded: 1}, []health.Status{health.Healthy, health.Degraded}},
		{"non-critical check critical is capped", []check{{true, health.Healthy}, {false, health.Critical}},
			health.Degraded, health.Summary{Healthy: 1, Degraded: 1}, []health.Status{health.Healthy, health.Degraded}},
		{"both failing", []check{{true, health.Critical}, {false, health.Critical}},
			health.Critical, health.Summary{Degraded: 1, Critical: 1}, []health.Status{health.Critical, health.Degraded}},
		{"critical degraded, non-critical critical", []check{{true, health.Degraded}, {false, health.Critical}},
			health.Degraded, health.Summary{Degraded: 2}, []health.Status{health.Degraded, health.Degraded}},
		{"critical critical, non-critical degraded", []check{{true, health.Critical}, {false, health.Degraded}},
			health.Critical, health.Summary{Degraded: 1, Critical: 1}, []health.Status{health.Critical, health.Degraded}},
		{"worst of many wins", []check{{false, health.Degraded}, {true, health.Healthy}, {true, health.Critical}, {false, health.Healthy}},
			health.Critical, health.Summary{Healthy: 2, Degraded: 1, Critical: 1},
			[]health.Status{health.Degraded, health.Healthy, health.Critical, health.Healthy}},
		{"unknown status fails a critical check", []check{{true, "unknown"}},
			health.Critical, health.Summary{Critical: 1}, []health.Status{health.Critical}},
		{"empty status degrades a non-critical check", []check{{false, ""}},
			health.Degraded, health.Summary{Degraded: 1}, []health.Status{health.Degraded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checks []health.Check
			names := []string{"a", "b", "c", "d"}
			for i, c := range tt.checks {
				checks = append(checks, health.Check{Name: names[i], Critical: c.critical, Func: returns(c.status, "m")})
			}
			r := health.New(checks).Run(t.Context())
			assert.Equal(t, tt.want, r.Status)
			assert.Equal(t, tt.summary, r.Summary)
			require.Len(t, r.Integrations, len(tt.results))
			for i, res := range r.Integrations {
				assert.Equal(t, names[i], res.Name, "results keep check order")
				assert.Equal(t, tt.results[i], res.Status, res.Name)
			}
			assert.NotNil(t, r.Integrations)
			assert.NotNil(t, r.Recommendations)
		})
	}
}

func TestRunUnknownStatusMessage(t *testing.T) {
	r := health.New([]health.Check{{Name: "x", Func: returns("sick", "cough")}}).Run(t.Context())
	assert.Equal(t, `check returned invalid status "sick": cough`, r.Integrations[0].Message)
}

func TestRunRecommendationsDeduplicatedInOrder(t *testing.T) {
	rec := func(status health.Status, rec string) func(context.Context) health.Result {
		return func(context.Context) health.Result {
			return health.Result{Status: status, Message: "m", Recommendation: rec}
		}
	}
	r := health.New([]health.Check{
		{Name: "a", Func: rec(health.Degraded, "renew the token")},
		{Name: "b", Func: rec(health.Healthy, "")},
		{Name: "c", Func: rec(health.Degraded, "call the vendor")},
		{Name: "d", Func: rec(health.Degraded, "renew the token")},
	}).Run(t.Context())
	assert.Equal(t, []string{"renew the token", "call the vendor"}, r.Recommendations)
	assert.Equal(t, "b", r.Integrations[1].Name, "the result name is the check name")
}

func TestRunChecksConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		checks := make([]health.Check, 10)
		for i := range checks {
			checks[i] = health.Check{Name: string(rune('a' + i)), Func: sleeps(100*time.Millisecond, &calls)}
		}
		start := time.Now()
		r := health.New(checks).Run(t.Context())
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "10 checks of 100ms take 100ms, not 1s")
		assert.Equal(t, int64(100), r.ElapsedMs)
		assert.Equal(t, health.Healthy, r.Status)
		assert.Equal(t, int64(10), calls.Load())
		assert.Equal(t, start.Add(100*time.Millisecond), r.Timestamp)
	})
}

func TestRunTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var exited sync.WaitGroup
		hang := func(context.Context) health.Result { // ignores its context
			defer exited.Done()
			<-release
			return health.Result{Status: health.Healthy, Message: "late"}
		}
		exited.Add(2)
		agg := health.New([]health.Check{
			{Name: "hung critical", Critical: true, Timeout: 50 * time.Millisecond, Func: hang},
			{Name: "hung optional", Timeout: 80 * time.Millisecond, Func: hang},
			{Name: "slow default", Func: sleeps(time.Hour, nil)},
			{Name: "fast", Func: returns(health.Healthy, "ok")},
		}, health.WithDefaultTimeout(200*time.Millisecond))

		start := time.Now()
		r := agg.Run(t.Context())
		assert.Equal(t, 200*time.Millisecond, time.Since(start), "the run ends with the longest timeout")
		assert.Equal(t, health.Critical, r.Status)
		want := []health.Result{
			{Name: "hung critical", Status: health.Critical, Message: "check timed out after 50ms",
				Recommendation: "hung critical is not answering within 50ms; check its connectivity and latency"},
			{Name: "hung optional", Status: health.Degraded, Message: "check timed out after 80ms",
				Recommendation: "hung optional is not answering within 80ms; check its connectivity and latency"},
			{Name: "slow default", Status: health.Degraded, Message: "check timed out after 200ms",
				Recommendation: "slow default is not answering within 200ms; check its connectivity and latency"},
			{Name: "fast", Status: health.Healthy, Message: "ok"},
		}
		assert.Equal(t, want, r.Integrations)

		// The hung goroutines finish as soon as their checks return: their
		// result channel has room, so nothing blocks them.
		close(release)
		exited.Wait()
		synctest.Wait()
	})
}

func TestRunPanicIsAFailedCheck(t *testing.T) {
	agg := health.New([]health.Check{
		{Name: "boom", Func: func(context.Context) health.Result { panic("kaboom") }},
		{Name: "boom critical", Critical: true, Func: func(context.Context) health.Result { panic(errors.New("nil map")) }},
		{Name: "nil func"},
		{Name: "fine", Func: returns(health.Healthy, "ok")},
	})
	r := agg.Run(t.Context())
	assert.Equal(t, health.Critical, r.Status)
	assert.Equal(t, health.Result{Name: "boom", Status: health.Degraded, Message: "check panicked",
		Details: map[string]any{"panic": "kaboom"}}, r.Integrations[0])
	assert.Equal(t, health.Result{Name: "boom critical", Status: health.Critical, Message: "check panicked",
		Details: map[string]any{"panic": "nil map"}}, r.Integrations[1])
	assert.Equal(t, health.Result{Name: "nil func", Status: health.Degraded, Message: "check has no Func"}, r.Integrations[2])
	assert.Equal(t, health.Healthy, r.Integrations[3].Status)
}

func TestRunGoexitIsAFailedCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A check that ends its goroutine without returning (t.FailNow in a
		// test helper, say) is reported at once, not after its timeout.
		start := time.Now()
		r := health.New([]health.Check{{Name: "gone", Critical: true, Func: func(context.Context) health.Result {
			runtime.Goexit()
			return health.Result{Status: health.Healthy}
		}}}).Run(t.Context())
		assert.Zero(t, time.Since(start))
		assert.Equal(t, health.Result{Name: "gone", Status: health.Critical, Message: "check exited without a result"}, r.Integrations[0])
	})
}

func TestRunCachesForTTL(t *testing.T) {
	tests := []struct {
		name string
		opts []health.Option
		ttl  time.Duration
	}{
		{"default 1s", nil, time.Second},
		{"custom 5s", []health.Option{health.WithCacheTTL(5 * time.Second)}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int64
				agg := health.New([]health.Check{{Name: "a", Func: sleeps(10*time.Millisecond, &calls)}}, tt.opts...)
				first := agg.Run(t.Context())
				assert.Equal(t, int64(1), calls.Load())

				time.Sleep(tt.ttl - time.Millisecond)
				again := agg.Run(t.Context())
				assert.Equal(t, int64(1), calls.Load(), "served from the cache")
				assert.Equal(t, first.Timestamp, again.Timestamp)

				time.Sleep(time.Millisecond)
				fresh := agg.Run(t.Context())
				assert.Equal(t, int64(2), calls.Load(), "the cache expired")
				assert.True(t, fresh.Timestamp.After(first.Timestamp))
			})
		})
	}
}

func TestRunWithoutCacheStillRunsEveryTime(t *testing.T) {
	var calls atomic.Int64
	agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
		calls.Add(1)
		return health.Result{Status: health.Healthy}
	}}}, health.WithCacheTTL(0))
	agg.Run(t.Context())
	agg.Run(t.Context())
	assert.Equal(t, int64(2), calls.Load())
}

func TestRunSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a, b atomic.Int64
		agg := health.New([]health.Check{
			{Name: "a", Func: sleeps(100*time.Millisecond, &a)},
			{Name: "b", Critical: true, Func: sleeps(50*time.Millisecond, &b)},
		}, health.WithCacheTTL(0)) // no cache: sharing comes from the single flight alone

		const callers = 1000
		reports := make([]health.Report, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { reports[i] = agg.Run(context.Background()) })
		}
		wg.Wait()
		assert.Equal(t, int64(1), a.Load(), "each check ran once for the burst")
		assert.Equal(t, int64(1), b.Load())
		for _, r := range reports {
			assert.Equal(t, reports[0].Timestamp, r.Timestamp)
			assert.Equal(t, health.Healthy, r.Status)
		}
	})
}

func TestRunAbandonedByCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		agg := health.New([]health.Check{
			{Name: "slow", Critical: true, Func: sleeps(time.Second, &calls)},
			{Name: "optional", Func: sleeps(time.Second, &calls)},
		})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		r := agg.Run(ctx)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "the caller does not wait past its deadline")
		assert.Equal(t, health.Critical, r.Status)
		assert.Equal(t, "health check abandoned: context deadline exceeded", r.Integrations[0].Message)
		assert.Equal(t, health.Degraded, r.Integrations[1].Status)

		// The shared run went on; the next caller joins it.
		r = agg.Run(t.Context())
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, health.Healthy, r.Status)
		assert.Equal(t, int64(2), calls.Load())
	})
}

func TestRunPassesContextValues(t *testing.T) {
	type key struct{}
	var got any
	agg := health.New([]health.Check{{Name: "a", Func: func(ctx context.Context) health.Result {
		got = ctx.Value(key{})
		_, hasDeadline := ctx.Deadline()
		assert.True(t, hasDeadline, "each check has its timeout")
		return health.Result{Status: health.Healthy}
	}}})
	agg.Run(context.WithValue(t.Context(), key{}, "v"))
	assert.Equal(t, "v", got)
}

func TestWithOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var status atomic.Value
		status.Store(health.Healthy)
		type change struct{ old, new health.Status }
		var (
			mu      sync.Mutex
			changes []change
		)
		agg := health.New([]health.Check{{Name: "a", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithOnChange(func(old, new health.Report) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, change{old.Status, new.Status})
		}))

		step := func(s health.Status) {
			status.Store(s)
			agg.Run(t.Context())
			// Readiness runs the critical check too, but reports no change.
			get(t, agg.Ready(), "/readyz")
			time.Sleep(time.Second) // let the cache expire
		}
		step(health.Healthy)
		step(health.Healthy)
		step(health.Critical)
		step(health.Critical)
		step(health.Degraded)
		step(health.Healthy)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []change{
			{"", health.Healthy},
			{health.Healthy, health.Critical},
			{health.Critical, health.Degraded},
			{health.Degraded, health.Healthy},
		}, changes)
	})
}

// textLogger logs in text to w, without times.
func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func TestWithLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := textLogger(&buf)
		agg := health.New([]health.Check{
			{Name: "boom", Func: func(context.Context) health.Result { panic("kaboom") }},
		}, health.WithLogger(logger), health.WithCacheTTL(0))
		agg.Run(t.Context())
		agg.Run(t.Context())
		synctest.Wait() // status changes are logged after Run has returned
		out := buf.String()
		assert.Equal(t, 2, strings.Count(out, `level=ERROR msg="health check panicked" check=boom panic=kaboom`), out)
		assert.Equal(t, 1, strings.Count(out, `level=INFO msg="health status" status=degraded`), out)
	})
}

// TestCheckIgnoringContextIsNotStartedAgain: a check that does not return
// when its timeout has passed is not started again, by the report or by
// readiness, while its run is out: 200 runs leave one goroutine behind, not
// 200, and the report says why the check was not run.
func TestCheckIgnoringContextIsNotStartedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int64
		agg := health.New([]health.Check{
			{Name: "stuck", Critical: true, Timeout: 10 * time.Millisecond, Func: func(context.Context) health.Result {
				calls.Add(1)
				<-release // ignores its context
				return health.Result{Status: health.Healthy, Message: "back"}
			}},
			{Name: "fine", Func: returns(health.Healthy, "ok")},
		}, health.WithCacheTTL(0))

		r := agg.Run(t.Context())
		assert.Equal(t, "check timed out after 10ms", r.Integrations[0].Message)
		goroutines := runtime.NumGoroutine()
		for range 200 {
			time.Sleep(5 * time.Millisecond)
			r = agg.Run(t.Context())
			assert.Equal(t, http.StatusServiceUnavailable, get(t, agg.Ready(), "/readyz").Code)
		}
		assert.Equal(t, int64(1), calls.Load(), "started once in 200 runs and 200 readiness probes")
		// NumGoroutine counts the whole process, where other goroutines come
		// and go: a margin of 20, against 400 leaked without the guard.
		assert.Less(t, runtime.NumGoroutine(), goroutines+20)
		assert.Equal(t, health.Result{Name: "stuck", Status: health.Critical,
			Message:        "check not started: its previous run has not returned after 1.01s (timeout 10ms)",
			Recommendation: "stuck does not return when its timeout has passed: make its check return when its context is done",
		}, r.Integrations[0])
		assert.Equal(t, health.Healthy, r.Integrations[1].Status)

		close(release)
		synctest.Wait()
		r = agg.Run(t.Context())
		assert.Equal(t, int64(2), calls.Load(), "started again once the run has returned")
		assert.Equal(t, health.Healthy, r.Integrations[0].Status)
	})
}

// TestOnChangePanicIsRecoveredAndLogged: a panicking change callback does
// not crash the process; the panic is logged, redacted, like a check's, and
// later changes are still reported.
func TestOnChangePanicIsRecoveredAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var status atomic.Value
		status.Store(health.Healthy)
		var calls atomic.Int64
		agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithCacheTTL(0), health.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			health.WithOnChange(func(old, new health.Report) {
				if calls.Add(1) == 1 {
					panic("pager rejected key=pk_live_1234")
				}
			}))
		agg.Run(t.Context())
		synctest.Wait()
		status.Store(health.Degraded)
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, int64(2), calls.Load(), "the change after the panic is reported")
		assert.Contains(t, logs.String(), `level=ERROR msg="health change callback panicked" panic="pager rejected key=[redacted]"`)
		assert.NotContains(t, logs.String(), "pk_live_1234")
	})
}

// TestFirstStatusLoggedAtInfo: the first report is not a change from ""
// worth a warning: its status is logged at INFO; changes after it at WARN.
func TestFirstStatusLoggedAtInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var status atomic.Value
		status.Store(health.Healthy)
		agg := health.New([]health.Check{{Name: "a", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithCacheTTL(0), health.WithLogger(textLogger(&logs)))
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, "level=INFO msg=\"health status\" status=healthy\n", logs.String())
		status.Store(health.Critical)
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, "level=INFO msg=\"health status\" status=healthy\n"+
			"level=WARN msg=\"health status changed\" from=healthy to=critical\n", logs.String())
	})
}

// TestWithDefaultTimeoutZeroKeepsDefault: a default timeout of zero or
// less keeps 2s.
func TestWithDefaultTimeoutZeroKeepsDefault(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			r := health.New([]health.Check{{Name: "slow", Func: sleeps(time.Hour, nil)}}, health.WithDefaultTimeout(d)).
				Run(t.Context())
			assert.Equal(t, 2*time.Second, time.Since(start), "WithDefaultTimeout(%s)", d)
			assert.Equal(t, "check timed out after 2s", r.Integrations[0].Message)
		})
	}
}

// TestRunPromptResultNeverReportedAsTimedOut: a check that returns at once
// is reported with its own result, never as timed out, however the end of
// its run and the release of its context are scheduled.
func TestRunPromptResultNeverReportedAsTimedOut(t *testing.T) {
	checks := make([]health.Check, 50)
	for i := range checks {
		checks[i] = health.Check{Name: strconv.Itoa(i), Func: returns(health.Degraded, "slow replies")}
		if i%2 == 1 {
			checks[i].Func = func(context.Context) health.Result { panic("kaboom") }
		}
	}
	agg := health.New(checks, health.WithCacheTTL(0))
	for run := range 200 {
		for i, res := range agg.Run(t.Context()).Integrations {
			want := "slow replies"
			if i%2 == 1 {
				want = "check panicked"
			}
			require.Equal(t, want, res.Message, "run %d, check %d", run, i)
		}
	}
}
