package app_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

func TestTokenExpiryMidFlow(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	require.Equal(t, http.StatusCreated, s.book(c, "k1", slot(0), "Ada", "").status)
	refreshes := func() int {
		n := 0
		for _, r := range s.sb.Calendar.Requests() {
			if r.Op == gcaltest.OpToken && r.Grant == "refresh_token" {
				n++
			}
		}
		return n
	}
	require.Zero(t, refreshes())

	s.sb.Calendar.ExpireAccessTokens() // Google stops accepting the token mid-flow
	r := s.book(c, "k2", slot(1), "Ada", "")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, 1, refreshes(), "one refresh, then the call went through")
	assert.Len(t, s.sb.Calendar.Events(sandbox.Account(c.org)), 2)
	assert.Contains(t, s.call("GET", "/metrics", "", "").raw, `resilience_gcal_token_refreshes_total{outcome="refreshed"} 1`)
}

func TestInvalidGrantGivesRelinkAdviceAndACalmAnswer(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	r := s.call("POST", "/api/dev/faults", c.token, `{"vendor":"calendar","kind":"revoke"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)

	r = s.book(c, "k1", slot(0), "Ada", "")
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	assert.Equal(t, "calendar_relink_required", r.str("code"))
	assert.Equal(t, "I can't reach the calendar right now, so I can't book this myself. "+
		"I'll make sure someone from the team follows up with you.", r.str("message"), "calm, and true")
	assert.Empty(t, r.header.Get("Retry-After"), "waiting does not help: someone must link again")

	st := s.call("GET", "/api/calendar/status", c.token, "")
	assert.Equal(t, "relink_required", st.str("status"))
	assert.Contains(t, st.str("advice"), "Link the calendar again")
	h := integrations(s.call("GET", "/api/health/integrations", "", ""))
	assert.Equal(t, "degraded", h["Google Calendar"]["status"])
	assert.Contains(t, h["Google Calendar"]["recommendation"], "link")
	assert.Equal(t, "healthy", h["Calendar circuit breakers"]["status"], "a refused grant is not an outage")
	tokenCalls := s.sb.Calendar.Count(gcaltest.OpToken)
	require.Equal(t, http.StatusConflict, s.book(c, "k2", slot(1), "Ada", "").status)
	assert.Equal(t, tokenCalls, s.sb.Calendar.Count(gcaltest.OpToken), "no token request until relinked")
	assert.Contains(t, s.call("GET", "/metrics", "", "").raw, `resilience_gcal_token_refreshes_total{outcome="refused"} 1`)

	s.link(c)
	assert.Equal(t, http.StatusCreated, s.book(c, "k1", slot(0), "Ada", "").status, "relinked, the same key books")
	eventually(t, func() bool {
		h := integrations(s.call("GET", "/api/health/integrations", "", ""))
		return h["Google Calendar"]["status"] == "healthy"
	}, "healthy once the cached report (1s) is renewed")
}

func TestOneClinicOutageLeavesOthersUntouched(t *testing.T) {
	s := start(t)
	down := s.onboard("down", "+15550001111")
	up := s.onboard("up", "+15550002222")
	require.NoError(t, s.sb.Script(down.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage}))
	require.NoError(t, s.sb.Script(down.org, sandbox.Fault{Vendor: sandbox.SMS, Kind: sandbox.Outage}))

	var wg sync.WaitGroup
	results := make([]int, 20)
	for i := range results {
		wg.Go(func() {
			c := up
			if i%2 == 0 {
				c = down
			}
			results[i] = s.book(c, "k"+string(rune('a'+i)), slot(i), "P", "+15551234567").status
		})
	}
	wg.Wait()
	for i, code := range results {
		if i%2 == 0 {
			assert.Equal(t, http.StatusServiceUnavailable, code, "down's booking %d", i)
		} else {
			assert.Equal(t, http.StatusCreated, code, "up's booking %d", i)
		}
	}
	assert.Len(t, s.sb.Calendar.Events(sandbox.Account(up.org)), 10)
	assert.Empty(t, s.sb.Calendar.Events(sandbox.Account(down.org)))
	assert.Equal(t, "open", s.app.Breakers("calendar").Get(down.org).State().String())
	assert.Equal(t, "closed", s.app.Breakers("calendar").Get(up.org).State().String())
}

func TestBusySlotIs409WithNextFreeSlot(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	// 09:00-10:00 is taken in the calendar by something booked elsewhere.
	s.sb.Calendar.SetAccount(sandbox.Account(c.org))
	s.sb.Calendar.AddEvent("primary", eventAt(slot(0), time.Hour))
	r := s.book(c, "k1", slot(1), "Ada", "")
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	assert.Equal(t, "slot_busy", r.str("code"))
	next := r.json["nextFreeSlot"].(map[string]any)
	assert.Equal(t, slot(2).Format(time.RFC3339), next["start"], "10:00, after the busy hour")
	assert.Equal(t, slot(3).Format(time.RFC3339), next["end"])
	assert.Contains(t, r.str("message"), "The next free time is ")

	require.Equal(t, http.StatusCreated, s.book(c, "k2", slot(2), "Ada", "").status)
	// The same start for another key is refused at once by the server's own records.
	r = s.book(c, "k3", slot(2), "Bea", "")
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, slot(3).Format(time.RFC3339), r.json["nextFreeSlot"].(map[string]any)["start"])
	// A rejected key may try again once the slot is free.
	require.Equal(t, http.StatusOK, s.call("DELETE", "/api/appointments/k2", c.token, "").status)
	assert.Equal(t, http.StatusCreated, s.book(c, "k3", slot(2), "Bea", "").status)
}

func TestFailedTextNeverFailsTheBooking(t *testing.T) {
	s := start(t, func(c *app.Config) { c.BreakerCooldown = 50 * time.Millisecond })
	c := s.onboard("ada", "+15550001111")
	require.NoError(t, s.sb.Script(c.org, sandbox.Fault{Vendor: sandbox.SMS, Kind: sandbox.Outage}))
	r := s.book(c, "k1", slot(0), "Ada", "+15551234567")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, "booked", r.str("status"))
	assert.Equal(t, "pending", r.json["text"].(map[string]any)["status"])
	assert.Contains(t, r.str("message"), "The confirmation text will follow shortly.")

	// The outage ends; the outbox sends the text, once.
	require.NoError(t, s.sb.Script(c.org, sandbox.Fault{Vendor: sandbox.SMS, Kind: sandbox.Clear}))
	eventually(t, func() bool { return len(s.texts("+15551234567")) == 1 }, "the outbox sent the text")
	eventually(t, func() bool {
		a := s.call("GET", "/api/appointments", c.token, "").json["appointments"].([]any)[0].(map[string]any)
		return a["text"].(map[string]any)["status"] == "delivered"
	}, "delivered")
	time.Sleep(50 * time.Millisecond) // a few more outbox rounds
	assert.Len(t, s.texts("+15551234567"), 1, "no duplicate")

	// A number Twilio refuses fails the text for good, and the booking still stands.
	r = s.book(c, "k2", slot(1), "Bea", "+15005550009")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, "failed", r.json["text"].(map[string]any)["status"])
	assert.Contains(t, r.str("message"), "I couldn't text that number")
}

func TestOnboardingInOneMinute(t *testing.T) {
	s := start(t)
	begin := time.Now()
	c := s.signUp("new-clinic", "+15550009999") // signs up: the provisioner makes its organisation
	assert.Empty(t, s.texts("+15550009999"), "not ready yet: no calendar")
	s.link(c) // links its calendar
	eventually(t, func() bool { return len(s.texts("+15550009999")) == 1 }, "System ready")
	took := time.Since(begin)
	assert.True(t, strings.HasPrefix(s.texts("+15550009999")[0], "System ready: Clinic new-clinic can now take bookings"))
	assert.Less(t, took, time.Second, "well under a second in the sandbox")
	t.Logf("sign-up to System ready: %v", took)

	// Saving the profile again sends nothing more.
	s.signUp("new-clinic", "+15550009999")
	assert.Len(t, s.texts("+15550009999"), 1)
}

func TestErrorsHaveCodeMessageAndRequestID(t *testing.T) {
	s := start(t)
	c := s.signUp("ada", "+15550001111")
	for _, r := range []response{
		s.call("GET", "/nowhere", "", ""),
		s.call("PATCH", "/api/appointments", c.token, ""),
		s.call("GET", "/api/me", "", ""),
		s.call("POST", "/api/appointments", c.token, `{}`),
		s.call("POST", "/api/appointments", c.token, `{"x":1}`, "Idempotency-Key", "k"),
		s.call("DELETE", "/api/appointments/nope", c.token, ""),
		s.call("POST", "/api/admin/breakers/calendar/x/reset", c.token, ""),
		s.call("POST", "/api/admin/breakers/nope/x/reset", token(t, "op", "staff"), ""),
		s.call("GET", "/oauth/google/callback?state=x&code=y", "", ""),
		s.call("POST", "/api/dev/faults", c.token, `{"vendor":"fax","kind":"outage"}`),
	} {
		assert.GreaterOrEqual(t, r.status, 400, r.raw)
		assert.NotEmpty(t, r.str("code"), r.raw)
		assert.NotEmpty(t, r.str("message"), r.raw)
		assert.Len(t, r.str("requestId"), 16, r.raw)
		assert.Equal(t, r.str("requestId"), r.header.Get("X-Request-Id"))
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	}
	r := s.call("PATCH", "/api/appointments", c.token, "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD, POST", r.header.Get("Allow"))
	r = s.call("GET", "/nowhere", "", "", "X-Request-Id", "trace-42")
	assert.Equal(t, "trace-42", r.str("requestId"), "the caller's request id is kept")
}

func TestAccessLogCarriesNoSecrets(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	r := s.book(c, "k1", slot(0), "Ada Lovelace", "+15551234567")
	require.Equal(t, http.StatusCreated, r.status)
	s.call("POST", "/api/sms", c.token, `{"to":"+15559876543","body":"Your test results are in."}`, "Idempotency-Key", "t")
	s.call("GET", "/api/me", "garbage-token", "")
	require.NoError(t, s.sb.Script(c.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage}))
	s.book(c, "k2", slot(1), "Ada Lovelace", "+15551234567")
	require.NoError(t, s.stop())
	log := s.log.String()

	requestID := r.header.Get("X-Request-Id")
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "request="+requestID) && strings.Contains(l, "msg=request ") {
			line = l
		}
	}
	require.NotEmpty(t, line, "the booking's access log line")
	for _, want := range []string{`route="POST /api/appointments"`, "status=201", "org=" + c.org, "ms="} {
		assert.Contains(t, line, want)
	}
	assert.Contains(t, log, `msg="calendar busy failed"`, "the final vendor failure")
	assert.Contains(t, log, `msg="request refused"`, "the auth failure")
	assert.Contains(t, log, `msg="shutting down"`)
	assert.Contains(t, log, "msg=stopped")
	for _, secret := range []string{c.token, string(testSecret), "+15551234567", "+15559876543", "Ada Lovelace", "Your test results",
		s.sb.SMS.AuthToken, "ya29.", "1//gcaltest"} {
		assert.NotContains(t, log, secret)
	}
}

func TestGracefulShutdown(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	s.sb.Calendar.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: 300 * time.Millisecond, Account: sandbox.Account(c.org)})
	done := make(chan response, 1)
	go func() { done <- s.book(c, "slow", slot(0), "Ada", "") }()
	eventually(t, func() bool { return s.sb.Calendar.Count(gcaltest.OpFreeBusy) == 1 }, "the booking is in flight")
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.stop())
	r := <-done
	assert.Equal(t, http.StatusCreated, r.status, "the request in flight finished")
	_, err := http.Get(s.url + "/livez")
	assert.Error(t, err, "no longer accepting")
}

func TestAdminResetIsStaffOnlyAndAudited(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	s.breakCalendar(c)
	require.NoError(t, s.sb.Script(c.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Clear}))

	r := s.call("POST", "/api/admin/breakers/calendar/"+c.org+"/reset", c.token, "")
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, "forbidden", r.str("code"))
	assert.Equal(t, "open", s.app.Breakers("calendar").Get(c.org).State().String())

	r = s.call("POST", "/api/admin/breakers/calendar/"+c.org+"/reset", token(t, "operator-1", "staff"), "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, "open", r.str("was"))
	assert.Equal(t, "closed", r.str("state"))
	assert.Equal(t, http.StatusCreated, s.book(c, "k", slot(0), "Ada", "").status)
	require.NoError(t, s.stop())
	assert.Contains(t, s.log.String(), `msg="breaker reset by an operator" vendor=calendar org=`+c.org+" actor=operator-1 was=open")
}

func TestMetricsExposeTheSeries(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	require.Equal(t, http.StatusCreated, s.book(c, "k", slot(0), "Ada", "+15551234567").status)
	s.call("GET", "/api/me", token(t, "stale", "authenticated"), "")
	eventually(t, func() bool {
		return strings.Contains(s.call("GET", "/metrics", "", "").raw, `resilience_sms_status_total{status="delivered"}`)
	}, "a delivery")
	m := s.call("GET", "/metrics", "", "").raw
	for _, want := range []string{
		`resilience_http_requests_total{code="201",method="POST",route="POST /api/appointments"} 1`,
		`resilience_http_request_duration_seconds_count{method="POST",route="POST /api/appointments"} 1`,
		`resilience_vendor_requests_total{class="",outcome="2xx",vendor="calendar"}`,
		`resilience_vendor_requests_total{class="",outcome="2xx",vendor="sms"}`,
		`resilience_vendor_calls_total{class="",op="book",outcome="ok",vendor="calendar"} 1`,
		`resilience_vendor_calls_total{class="",op="send",outcome="ok",vendor="sms"}`,
		`resilience_breakers{state="open",vendor="sms"} 0`,
		`resilience_sms_time_to_delivery_seconds_count`,
		`resilience_tenant_requests_total{source="provisioned"}`,
		`resilience_tenant_lookup_seconds_count{op="directory",outcome="no_org"}`,
		`resilience_tenant_lookup_seconds_count{op="provision",outcome="found"}`,
		"go_goroutines",
	} {
		assert.Contains(t, m, want)
	}
	assert.NotContains(t, m, c.org, "no series per clinic")
}

func TestStatusPageAndStatusAPI(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	s.breakCalendar(c)

	page := s.call("GET", "/", "", "")
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.raw, "<title>Receptionist status</title>")
	assert.Contains(t, page.header.Get("Content-Security-Policy"), "default-src 'none'")

	pub := s.call("GET", "/api/status", "", "")
	require.Equal(t, http.StatusOK, pub.status)
	assert.Equal(t, "degraded", pub.str("status"))
	assert.Equal(t, "public", pub.str("viewer"))
	assert.Contains(t, pub.raw, `{"vendor":"calendar","total":1,"open":1,"halfOpen":0}`)
	assert.NotContains(t, pub.raw, c.org)
	assert.NotContains(t, pub.raw, "openBreakers")
	assert.NotContains(t, pub.raw, `"deliveries":`)

	staff := s.call("GET", "/api/status", token(t, "op", "staff"), "")
	assert.Equal(t, "staff", staff.str("viewer"))
	assert.Contains(t, staff.raw, `"org":"`+c.org+`","state":"open"`)
	assert.Contains(t, staff.raw, `"kind":"system-ready","to":"+1******1111"`)
	assert.NotContains(t, staff.raw, "+15550001111")
}

// eventAt is an event booked in the calendar by someone else.
func eventAt(start time.Time, d time.Duration) *gcalEvent {
	return &gcalEvent{
		Summary: "Staff meeting",
		Start:   &gcalTime{DateTime: start.Format(time.RFC3339)},
		End:     &gcalTime{DateTime: start.Add(d).Format(time.RFC3339)},
	}
}

func TestListenerIsInjectable(t *testing.T) {
	ln := freePort(t)
	s := start(t, func(c *app.Config) { c.Listener = ln })
	assert.Equal(t, "http://"+ln.Addr().String(), s.url)
	assert.Equal(t, http.StatusOK, s.call("GET", "/livez", "", "").status)

	// In dev mode a listener beyond loopback is refused, and closed.
	public, err := net.Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	cfg := testConfig(t)
	cfg.Listener = public
	_, err = app.New(t.Context(), cfg)
	require.ErrorIs(t, err, app.ErrPublicDevMode)
	_, err = public.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
}
