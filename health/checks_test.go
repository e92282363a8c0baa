package health_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
)

func TestFromError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		opts     []health.CheckOption
		want     health.Result
		critical bool
	}{
		{"nil error", nil, nil, health.Result{Name: "x", Status: health.Healthy, Message: "ok"}, false},
		{"error degrades", errors.New("connection refused"), nil,
			health.Result{Name: "x", Status: health.Degraded, Message: "check failed",
				Details: map[string]any{"error": "connection refused"}}, false},
		{"critical error", errors.New("connection refused"),
			[]health.CheckOption{health.AsCritical(), health.WithRecommendation("restart it")},
			health.Result{Name: "x", Status: health.Critical, Message: "check failed",
				Details: map[string]any{"error": "connection refused"}, Recommendation: "restart it"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := health.FromError("x", func(context.Context) error { return tt.err }, tt.opts...)
			assert.Equal(t, tt.critical, c.Critical)
			r := health.New([]health.Check{c}).Run(t.Context())
			assert.Equal(t, []health.Result{tt.want}, r.Integrations)
		})
	}
}

func TestFromErrorTimeout(t *testing.T) {
	c := health.FromError("x", func(context.Context) error { return nil }, health.WithTimeout(time.Second))
	assert.Equal(t, time.Second, c.Timeout)
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?mode=memory&cache=shared", t.Name()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSQLHealthy(t *testing.T) {
	db := openSQLite(t)
	db.SetMaxOpenConns(4)
	c := health.SQL("Database", db, health.AsCritical())
	assert.True(t, c.Critical)
	r := health.New([]health.Check{c}).Run(t.Context())
	require.Equal(t, health.Healthy, r.Status, r.Integrations[0].Message)
	res := r.Integrations[0]
	assert.Equal(t, "Database", res.Name)
	assert.Equal(t, "database connection active", res.Message)
	assert.Equal(t, 4, res.Details["maxOpenConnections"])
	assert.Equal(t, 1, res.Details["openConnections"])
	assert.Equal(t, 1, res.Details["idle"])
	assert.Equal(t, 0, res.Details["inUse"])
	assert.Equal(t, int64(0), res.Details["waitCount"])
	assert.Contains(t, res.Details, "waitDurationMs")
}

func TestSQLClosedDatabase(t *testing.T) {
	db := openSQLite(t)
	require.NoError(t, db.Close())
	tests := []struct {
		opts []health.CheckOption
		want health.Status
	}{
		{nil, health.Degraded},
		{[]health.CheckOption{health.AsCritical()}, health.Critical},
	}
	for _, tt := range tests {
		r := health.New([]health.Check{health.SQL("Database", db, tt.opts...)}).Run(t.Context())
		assert.Equal(t, tt.want, r.Status)
		res := r.Integrations[0]
		assert.Equal(t, "database ping failed", res.Message, "no driver detail in the message")
		assert.Equal(t, "sql: database is closed", res.Details["error"])
		assert.NotEmpty(t, res.Recommendation)
		assert.Contains(t, res.Details, "openConnections")
	}
}

// snapshots builds breaker snapshots: state by key.
func snapshots(states map[string]breaker.State) health.SnapshotFunc {
	return func() []breaker.Snapshot {
		var out []breaker.Snapshot
		for k, s := range states {
			out = append(out, breaker.Snapshot{Key: k, State: s})
		}
		return out
	}
}

func TestBreakers(t *testing.T) {
	many := map[string]breaker.State{"half": breaker.HalfOpen, "closed": breaker.Closed}
	for i := range 12 {
		many[fmt.Sprintf("clinic-%02d", i)] = breaker.Open
	}
	tests := []struct {
		name    string
		states  map[string]breaker.State
		opts    []health.CheckOption
		status  health.Status
		message string
		details map[string]any
	}{
		{"none", nil, nil, health.Healthy, "all 0 circuit breakers closed",
			map[string]any{"total": 0, "open": 0, "halfOpen": 0}},
		{"all closed", map[string]breaker.State{"a": breaker.Closed, "b": breaker.Closed}, nil,
			health.Healthy, "all 2 circuit breakers closed", map[string]any{"total": 2, "open": 0, "halfOpen": 0}},
		{"one open degrades", map[string]breaker.State{"twilio:clinic-7": breaker.Open, "b": breaker.Closed}, nil,
			health.Degraded, "1 of 2 circuit breakers not closed (1 open, 0 half-open)",
			map[string]any{"total": 2, "open": 1, "halfOpen": 0, "keys": []string{"twilio:clinic-7"}, "more": 0}},
		{"half-open in a critical check", map[string]breaker.State{"gcal": breaker.HalfOpen},
			[]health.CheckOption{health.AsCritical()},
			health.Critical, "1 of 1 circuit breakers not closed (0 open, 1 half-open)",
			map[string]any{"total": 1, "open": 0, "halfOpen": 1, "keys": []string{"gcal"}, "more": 0}},
		{"keys limited", many, nil, health.Degraded,
			"13 of 14 circuit breakers not closed (12 open, 1 half-open)",
			map[string]any{"total": 14, "open": 12, "halfOpen": 1, "more": 3, "keys": []string{
				"clinic-00", "clinic-01", "clinic-02", "clinic-03", "clinic-04",
				"clinic-05", "clinic-06", "clinic-07", "clinic-08", "clinic-09"}}},
		{"custom key limit, open first", many, []health.CheckOption{health.WithKeyLimit(13)}, health.Degraded,
			"13 of 14 circuit breakers not closed (12 open, 1 half-open)",
			map[string]any{"total": 14, "open": 12, "halfOpen": 1, "more": 0, "keys": []string{
				"clinic-00", "clinic-01", "clinic-02", "clinic-03", "clinic-04", "clinic-05", "clinic-06",
				"clinic-07", "clinic-08", "clinic-09", "clinic-10", "clinic-11", "half"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := health.New([]health.Check{health.Breakers("Circuit breakers", snapshots(tt.states), tt.opts...)}).Run(t.Context())
			res := r.Integrations[0]
			assert.Equal(t, tt.status, res.Status)
			assert.Equal(t, tt.status, r.Status)
			assert.Equal(t, tt.message, res.Message)
			assert.Equal(t, tt.details, res.Details)
			assert.Equal(t, tt.status != health.Healthy, res.Recommendation != "")
		})
	}
}

var _ health.BreakerSource = (*breaker.Registry[int])(nil)

func TestBreakersWithRegistry(t *testing.T) {
	reg := breaker.NewRegistry[string](breaker.Settings{})
	check := health.Breakers("Twilio breakers", reg)

	tripped := reg.Get("twilio:clinic-7")
	for range 3 {
		done, err := tripped.Allow()
		require.NoError(t, err)
		done(errors.New("twilio: 503 Service Unavailable"))
	}
	done, err := reg.Get("twilio:clinic-9").Allow()
	require.NoError(t, err)
	done(nil)
	require.Equal(t, breaker.Open, tripped.State())

	r := health.New([]health.Check{check}).Run(t.Context())
	res := r.Integrations[0]
	assert.Equal(t, health.Degraded, res.Status)
	assert.Equal(t, "1 of 2 circuit breakers not closed (1 open, 0 half-open)", res.Message)
	assert.Equal(t, []string{"twilio:clinic-7"}, res.Details["keys"])

	check.Critical = true
	assert.Equal(t, health.Critical, health.New([]health.Check{check}).Run(t.Context()).Status)

	tripped.Reset()
	assert.Equal(t, health.Healthy, health.New([]health.Check{check}).Run(t.Context()).Status)
}

// TestBreakersMessageNamesNoKeys: the message, which every caller sees,
// counts the breakers that are not closed; their keys (tenants) are in the
// details only.
func TestBreakersMessageNamesNoKeys(t *testing.T) {
	const org = "org-acme-dental"
	check := health.Breakers("Calendar", snapshots(map[string]breaker.State{org: breaker.Open, "org-b": breaker.Closed}))
	res := health.New([]health.Check{check}).Run(t.Context()).Integrations[0]
	assert.Equal(t, "1 of 2 circuit breakers not closed (1 open, 0 half-open)", res.Message)
	assert.NotContains(t, res.Recommendation, org)
	assert.Equal(t, []string{org}, res.Details["keys"])
}

// TestWithKeyLimitZeroKeepsDefault: a key limit of zero or less keeps the
// default of 10 keys in the details.
func TestWithKeyLimitZeroKeepsDefault(t *testing.T) {
	states := map[string]breaker.State{}
	for i := range 12 {
		states[fmt.Sprintf("org-%02d", i)] = breaker.Open
	}
	for _, limit := range []int{0, -1} {
		res := health.New([]health.Check{health.Breakers("b", snapshots(states), health.WithKeyLimit(limit))}).
			Run(t.Context()).Integrations[0]
		assert.Len(t, res.Details["keys"], 10, "limit %d", limit)
		assert.Equal(t, 2, res.Details["more"], "limit %d", limit)
	}
	res := health.New([]health.Check{health.Breakers("b", snapshots(states), health.WithKeyLimit(1))}).
		Run(t.Context()).Integrations[0]
	assert.Equal(t, []string{"org-00"}, res.Details["keys"])
	assert.Equal(t, 11, res.Details["more"])
}

// TestBreakersEqualOpenAndHalfOpen: as many half-open as open breakers is
// still a failure, counted apart, open keys first.
func TestBreakersEqualOpenAndHalfOpen(t *testing.T) {
	states := map[string]breaker.State{"b": breaker.Open, "d": breaker.Open, "a": breaker.HalfOpen, "c": breaker.HalfOpen,
		"e": breaker.Closed}
	res := health.New([]health.Check{health.Breakers("b", snapshots(states), health.AsCritical())}).Run(t.Context()).Integrations[0]
	assert.Equal(t, health.Critical, res.Status)
	assert.Equal(t, "4 of 5 circuit breakers not closed (2 open, 2 half-open)", res.Message)
	assert.Equal(t, map[string]any{"total": 5, "open": 2, "halfOpen": 2, "keys": []string{"b", "d", "a", "c"}, "more": 0},
		res.Details)
}
