package twilioguard_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestCheckIsHealthyThenDegradedByAnOpenBreaker(t *testing.T) {
	e := newEnv(t)
	check := e.guard.Check("SMS")
	assert.Equal(t, "SMS", check.Name)

	_, err := e.guard.Send(t.Context(), clinicMsg("up", upClinic, "a"))
	require.NoError(t, err)
	r := check.Func(t.Context())
	assert.Equal(t, health.Healthy, r.Status)
	assert.Equal(t, "0 of 1 org circuit breakers open, 0 half-open; 0 of 1 recent deliveries failed", r.Message)

	e.fake.Script(downClinic, twiliotest.Fault{Status: 500, Times: 100})
	_, err = e.guard.Send(t.Context(), clinicMsg("clinic-down-42", downClinic, "a"))
	require.Error(t, err)
	r = check.Func(t.Context())
	assert.Equal(t, health.Degraded, r.Status)
	assert.Equal(t, "1 of 2 org circuit breakers open, 0 half-open; 1 of 2 recent deliveries failed", r.Message)
	assert.Equal(t, 1, r.Details["open"])
	assert.NotEmpty(t, r.Recommendation)
	assert.NotContains(t, fmt.Sprint(r), "clinic-down-42", "counts, never org IDs")
	assert.NotContains(t, fmt.Sprint(r), "5551234567")
}

func TestCheckIsDegradedByRecentFailures(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	run := func(ok, bad int) health.Result {
		e := newEnv(t, twilioguard.WithClock(func() time.Time { return now }))
		for i := range ok {
			_, err := e.guard.Send(t.Context(), msg("org-1", fmt.Sprint("ok-", i)))
			require.NoError(t, err)
		}
		for i := range bad {
			m := msg("org-1", fmt.Sprint("blocked-", i))
			m.To = twiliotest.ToBlocked
			_, err := e.guard.Send(t.Context(), m)
			require.Error(t, err)
		}
		return e.guard.Check("SMS").Func(t.Context())
	}
	r := run(8, 2)
	assert.Equal(t, health.Healthy, r.Status, "20%% is not above the default 20%%: %s", r.Message)
	r = run(7, 3)
	assert.Equal(t, health.Degraded, r.Status, r.Message)
	assert.Equal(t, "0 of 1 org circuit breakers open, 0 half-open; 3 of 10 recent deliveries failed", r.Message)
	assert.Contains(t, r.Recommendation, "Many texts fail")
	r = run(6, 3)
	assert.Equal(t, health.Healthy, r.Status, "9 deliveries are too few to judge")
}

func TestCheckForgetsOldDeliveries(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, twilioguard.WithClock(func() time.Time { return now }), twilioguard.WithFailureThreshold(0.5))
	for i := range 10 {
		m := msg("org-1", fmt.Sprint("blocked-", i))
		m.To = twiliotest.ToBlocked
		_, _ = e.guard.Send(t.Context(), m)
	}
	assert.Equal(t, health.Degraded, e.guard.Check("SMS").Func(t.Context()).Status)
	now = now.Add(time.Hour)
	r := e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Healthy, r.Status)
	assert.Contains(t, r.Message, "0 of 0 recent deliveries failed")
}

func TestCheckCountsHalfOpenBreakers(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	reg := breaker.NewRegistry[string](breaker.Settings{Cooldown: time.Minute, Now: func() time.Time { return now }})
	trip := func(key string) {
		for range 3 {
			done, err := reg.Get(key).Allow()
			require.NoError(t, err)
			done(errors.New("down"))
		}
	}
	trip("org-a")
	now = now.Add(2 * time.Minute)
	_, err := reg.Get("org-a").Allow() // a probe: half-open
	require.NoError(t, err)
	trip("org-b")
	e := newEnv(t, twilioguard.WithBreakers(reg))
	r := e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Degraded, r.Status)
	assert.Equal(t, "1 of 2 org circuit breakers open, 1 half-open; 0 of 0 recent deliveries failed", r.Message)
	assert.Contains(t, r.Recommendation, "fail fast")
}

func TestCheckNeedsEnoughDeliveriesToJudge(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		m := msg("org-1", fmt.Sprint(i))
		m.To = twiliotest.ToInvalid
		_, _ = e.guard.Send(t.Context(), m)
	}
	r := e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Healthy, r.Status, "3 failures of 3 are too few to call a trend")
	assert.Equal(t, 3, r.Details["recentFailures"])
}

// WithFailureThreshold takes a share in (0, 1]; any other value keeps the
// default of 20%.
func TestFailureThresholdIsTakenOnlyInRange(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	run := func(t *testing.T, opts []twilioguard.Option, bad int) health.Status {
		e := newEnv(t, append(opts, twilioguard.WithClock(func() time.Time { return now }))...)
		for i := range 10 {
			m := msg("org-1", fmt.Sprint(i))
			if i < bad {
				m.To = twiliotest.ToBlocked
			}
			_, _ = e.guard.Send(t.Context(), m)
		}
		r := e.guard.Check("SMS").Func(t.Context())
		require.Contains(t, r.Message, fmt.Sprintf("%d of 10 recent deliveries failed", bad))
		return r.Status
	}
	for _, tt := range []struct {
		name    string
		ratio   float64
		healthy int // the most failures of 10 still Healthy
	}{
		{name: "0 keeps the default", ratio: 0, healthy: 2},
		{name: "negative keeps the default", ratio: -0.1, healthy: 2},
		{name: "above 1 keeps the default", ratio: 1.5, healthy: 2},
		{name: "half", ratio: 0.5, healthy: 5},
		{name: "1: never degraded by failures", ratio: 1, healthy: 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := []twilioguard.Option{twilioguard.WithFailureThreshold(tt.ratio)}
			assert.Equal(t, health.Healthy, run(t, opts, tt.healthy))
			if tt.healthy < 10 {
				assert.Equal(t, health.Degraded, run(t, opts, tt.healthy+1))
			}
		})
	}
}
