package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/internal/testenv"
)

// TestTwoInstancesShareBreakersAndBookings runs two instances on one
// PostgreSQL, one Redis and one sandbox: an outage one of them finds makes
// the other fail fast within a second, and a booking retried on the other
// instance with the same key books (and texts) once.
func TestTwoInstancesShareBreakersAndBookings(t *testing.T) {
	pg := testenv.Postgres(t)
	redisURL, prefix := testenv.Redis(t)
	sb := sandbox.Start(sandbox.Options{SMSStep: 10 * time.Millisecond})
	t.Cleanup(sb.Close)
	shared := func(c *app.Config) {
		c.DatabaseURL, c.RedisURL, c.RedisPrefix, c.Sandbox = pg, redisURL, prefix, sb
	}
	a, b := start(t, shared), start(t, shared)
	c := a.onboard("ada", "+15550001111")
	assert.Equal(t, "linked", b.call("GET", "/api/calendar/status", c.token, "").str("status"), "one database")
	require.Equal(t, http.StatusCreated, b.book(c, "k0", slot(0), "Ada", "").status)
	for _, s := range []*server{a, b} {
		h := integrations(s.call("GET", "/api/health/integrations", "", ""))
		require.Contains(t, h, "Redis")
		eventually(t, func() bool {
			return integrations(s.call("GET", "/api/health/integrations", "", ""))["Redis"]["status"] == "healthy"
		}, "the watchers reach Redis")
	}

	// A finds the clinic's calendar down; B stops calling it within a second.
	require.NoError(t, sb.Script(c.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage}))
	require.Equal(t, http.StatusServiceUnavailable, a.book(c, "k1", slot(1), "Ada", "").status)
	found := time.Now()
	eventually(t, func() bool { return b.app.Breakers("calendar").Get(c.org).State() == breaker.Open }, "B adopts A's open circuit")
	t.Logf("B adopted the open circuit %v after A found the outage", time.Since(found).Round(time.Millisecond))
	assert.Less(t, time.Since(found), time.Second, "within a second")
	before := calendarRequests(a, sandbox.Account(c.org))
	r := b.book(c, "k2", slot(2), "Ada", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, before, calendarRequests(a, sandbox.Account(c.org)), "B failed fast, without a request")

	// The outage ends; an operator resets the breaker on B, and A closes too.
	require.NoError(t, sb.Script(c.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Clear}))
	require.Equal(t, http.StatusOK, b.call("POST", "/api/admin/breakers/calendar/"+c.org+"/reset", token(t, "op", "staff"), "").status)
	eventually(t, func() bool { return a.app.Breakers("calendar").Get(c.org).State() == breaker.Closed }, "A adopts the close")

	// A's booking is made at Google but every answer is lost; the caller
	// retries on B with the same key: one event, one text.
	sb.Calendar.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 503, Commit: true, Times: 4, Account: sandbox.Account(c.org)})
	r = a.book(c, "retry", slot(3), "Ada", "+15551234567")
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	// The failed attempts opened A's circuit; the operator sees it open on
	// B before resetting it. (A reset that reaches Redis before A's open
	// does is undone by it: the later write wins.)
	eventually(t, func() bool { return b.app.Breakers("calendar").Get(c.org).State() == breaker.Open }, "B adopts A's open circuit")
	require.Equal(t, http.StatusOK, b.call("POST", "/api/admin/breakers/calendar/"+c.org+"/reset", token(t, "op", "staff"), "").status)
	eventually(t, func() bool { return a.app.Breakers("calendar").Get(c.org).State() == breaker.Closed }, "A adopts the close")
	sb.Calendar.ClearAccountFaults(sandbox.Account(c.org))
	r = b.book(c, "retry", slot(3), "Ada", "+15551234567")
	require.Equal(t, http.StatusOK, r.status, "the event was there already: %s", r.raw)
	again := a.book(c, "retry", slot(3), "Ada", "+15551234567")
	require.Equal(t, http.StatusOK, again.status)
	assert.Equal(t, r.str("eventId"), again.str("eventId"))
	n := 0
	for _, e := range sb.Calendar.Events(sandbox.Account(c.org)) {
		if e.Id == r.str("eventId") {
			n++
		}
	}
	assert.Equal(t, 1, n, "booked once")
	assert.Len(t, sb.Calendar.Events(sandbox.Account(c.org)), 2, "k0 and retry")
	assert.Len(t, sb.Texts("+15551234567"), 1, "texted once")
}
