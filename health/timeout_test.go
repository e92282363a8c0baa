package health_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

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
