package health_test

import (
	"context"
	"errors"
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
