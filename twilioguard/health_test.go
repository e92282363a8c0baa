package twilioguard_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	e := newEnv(t, twilioguard.WithClock(func() time.Time { return now }), twilioguard.WithFailureThreshold(0.25))
	send := func(key, to string) {
		m := msg("org-1", key)
		m.To = to
		_, _ = e.guard.Send(t.Context(), m)
	}
	for i := range 8 {
		send(fmt.Sprint("ok-", i), patient)
	}
	for i := range 2 {
		send(fmt.Sprint("blocked-", i), twiliotest.ToBlocked)
	}
	r := e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Healthy, r.Status, "2 of 10 is within 25%%: %s", r.Message)

	send("blocked-2", twiliotest.ToBlocked)
	r = e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Degraded, r.Status, r.Message)
	assert.Contains(t, r.Message, "3 of 11 recent deliveries failed")

	now = now.Add(time.Hour) // old outcomes no longer count
	r = e.guard.Check("SMS").Func(t.Context())
	assert.Equal(t, health.Healthy, r.Status)
	assert.Contains(t, r.Message, "0 of 0 recent deliveries failed")
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
