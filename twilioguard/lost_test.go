package twilioguard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

const (
	attempt    = twilioguard.EventAttempt
	accepted   = twilioguard.EventAccepted
	lost       = twilioguard.EventLost
	reconciled = twilioguard.EventReconciled
	missing    = twilioguard.EventMissing
)

// Every way an answer gets lost, before or after Twilio created the
// message, ends with exactly one text.
func TestLostAnswersEndWithExactlyOneMessage(t *testing.T) {
	shortTimeout := twilioguard.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond})
	tests := []struct {
		name     string
		fault    twilioguard.Option // extra option
		f        twiliotest.Fault
		creates  int
		attempts int
		events   []twilioguard.AuditEvent
		class    string // of the lost answer, "temporary" when ""
	}{
		{name: "500 after accepting", f: twiliotest.Fault{Accept: true, Status: 500},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "500 before accepting", f: twiliotest.Fault{Status: 500},
			creates: 2, attempts: 2, events: []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}},
		{name: "503 after accepting", f: twiliotest.Fault{Accept: true, Status: 503},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "HTML 502 after accepting", f: twiliotest.Fault{Accept: true, HTML: true},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "HTML 502 before accepting", f: twiliotest.Fault{HTML: true},
			creates: 2, attempts: 2, events: []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}},
		{name: "undecodable 201", f: twiliotest.Fault{Accept: true, HTML: true, Status: 201},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "201 without a SID", f: twiliotest.Fault{Accept: true, Status: 201, Body: `{"status":"queued"}`},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "truncated 201", f: twiliotest.Fault{Accept: true, Status: 201, Body: `{"sid":"SM`},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "reset after accepting", f: twiliotest.Fault{Accept: true, Reset: true}, class: "network",
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "reset before accepting", f: twiliotest.Fault{Reset: true}, class: "network",
			creates: 2, attempts: 2, events: []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}},
		{name: "timeout after accepting", fault: shortTimeout, f: twiliotest.Fault{Accept: true, Delay: time.Minute},
			creates: 1, attempts: 1, events: []twilioguard.AuditEvent{attempt, lost, reconciled}},
		{name: "timeout before accepting", fault: shortTimeout, f: twiliotest.Fault{Delay: time.Minute},
			creates: 2, attempts: 2, events: []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.fault)
			e.fake.Script(clinic, tt.f)
			d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
			require.NoError(t, err)
			e.requireOneMessage(d)
			assert.Equal(t, tt.creates, e.creates())
			assert.Equal(t, tt.attempts, d.Attempts)
			assert.Equal(t, twilioguard.Queued, d.Status)
			assert.Equal(t, tt.events, e.audit.events("appt-1"))
			want := tt.class
			if want == "" {
				want = "temporary"
			}
			assert.Equal(t, want, e.audit.all()[1].Class, "the class of the lost answer")
			assert.NotContains(t, e.logs.String(), "reconcile failed", "the reconciliation succeeded")
			stored, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
			require.NoError(t, err)
			assert.Equal(t, d, stored)
		})
	}
}

// A 5xx with the retries spent leaves the delivery Unknown; the next Send
// reconciles instead of sending.
func TestListingFailureLeavesUnknownUntilALaterSendReconciles(t *testing.T) {
	tolerant := twilioguard.WithBreakers(breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 20}))
	e := newEnv(t, tolerant)
	e.fake.Script(clinic,
		twiliotest.Fault{Accept: true, Status: 500},
		twiliotest.Fault{Op: twiliotest.List, Status: 503, Times: 3},
	)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.Temporary, ge.Class)
	assert.Equal(t, twilioguard.Unknown, ge.Status)
	assert.Equal(t, 503, ge.HTTPStatus)
	assert.Equal(t, 20503, ge.Code)
	assert.Contains(t, err.Error(), "delivery unknown")
	assert.Equal(t, twilioguard.Unknown, d.Status)
	assert.Empty(t, d.SID)
	assert.Equal(t, 1, e.creates(), "nothing is sent again before listing succeeds")
	assert.Equal(t, 3, e.fake.Count(twiliotest.List))

	stored, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Unknown, stored.Status)
	require.True(t, stored.LeaseUntil.IsZero(), "the lease is given back for the next Send")

	d, err = e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 1, e.creates())
	assert.Equal(t, []twilioguard.AuditEvent{attempt, lost, reconciled}, e.audit.events("appt-1"))
}

// Messages not yet sent come first in Twilio's lists and have no
// date_sent: the unfiltered pages are read while they hold such messages,
// so a lost message behind 60 queued ones is found without a DateSent
// filter.
func TestReconcileReadsThePagesOfMessagesNotYetSent(t *testing.T) {
	var e *env
	e = newEnv(t, twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		msgs := e.fake.Messages()
		require.NoError(t, e.fake.SetStatus(msgs[len(msgs)-1].SID, "sent", 0))
	})))
	for i := range 60 { // 60 older texts to the patient, still queued: they come first
		m := msg("org-1", fmt.Sprintf("old-%d", i))
		m.Body = fmt.Sprintf("reminder %d", i)
		_, err := e.guard.Send(t.Context(), m)
		require.NoError(t, err)
	}
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.Equal(t, 61, e.creates())
	assert.Len(t, e.fake.Messages(), 61)
	assert.Equal(t, twilioguard.Sent, d.Status, "the status Twilio listed")
	assert.Equal(t, e.fake.Messages()[60].SID, d.SID)

	var pages []string
	for _, r := range e.fake.Requests() {
		if r.Op == twiliotest.List {
			assert.Equal(t, patient, r.Params.Get("To"))
			assert.Equal(t, clinic, r.Params.Get("From"))
			pages = append(pages, r.Params.Get("Page")+"/"+fmt.Sprint(r.Params.Get("DateSent>") != ""))
		}
	}
	assert.Equal(t, []string{"/false", "1/false"}, pages)
}

// Another key's text with the same body to the same number is not this
// key's message.
func TestReconcileIgnoresAnotherKeysIdenticalText(t *testing.T) {
	e := newEnv(t)
	first, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.fake.Script(clinic, twiliotest.Fault{Status: 500})
	second, err := e.guard.Send(t.Context(), msg("org-1", "appt-2"))
	require.NoError(t, err)
	assert.NotEqual(t, first.SID, second.SID)
	assert.Len(t, e.fake.Messages(), 2)
	assert.Equal(t, []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}, e.audit.events("appt-2"))
}

func TestCanceledAfterTheRequestWasWrittenLeavesUnknown(t *testing.T) {
	e := newEnv(t, twilioguard.WithStore(&flakyStore{})) // a store that honours contexts
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Delay: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(e.fake.Messages()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	d, err := e.guard.Send(ctx, msg("org-1", "appt-1"))
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
	require.Equal(t, twilioguard.Unknown, d.Status, "recorded although the caller left")

	d, err = e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 1, e.creates())
}

// A Send that shared the request of a Send whose caller gave up goes on.
func TestFollowerOutlivesACanceledLeader(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{Delay: time.Minute})
	leaderCtx, cancel := context.WithCancel(t.Context())
	leader := make(chan error, 1)
	go func() {
		_, err := e.guard.Send(leaderCtx, msg("org-1", "appt-1"))
		leader <- err
	}()
	require.Eventually(t, func() bool { return e.creates() == 1 }, 5*time.Second, time.Millisecond)
	follower := make(chan twilioguard.Delivery, 1)
	go func() {
		// Milliseconds of work: a follower never woken fails, not hangs.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		d, err := e.guard.Send(ctx, msg("org-1", "appt-1"))
		assert.NoError(t, err)
		follower <- d
	}()
	time.Sleep(10 * time.Millisecond) // let the follower join the leader's request
	cancel()
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(<-leader))
	d := <-follower
	e.requireOneMessage(d)
	assert.Equal(t, 2, e.creates(), "the dropped request, then the follower's own")
	assert.Equal(t, 2, d.Attempts)
}

// A Send that vanished (a crashed process) while holding the lease may
// have sent the message: its delivery is reconciled once the lease ran out.
func TestAbandonedPendingDeliveryIsReconciled(t *testing.T) {
	now := time.Now()
	for _, sent := range []bool{true, false} {
		t.Run(fmt.Sprintf("sent=%v", sent), func(t *testing.T) {
			e := newEnv(t)
			_, created, err := e.store.Create(t.Context(), twilioguard.Delivery{
				OrgID: "org-1", Key: "appt-1", To: patient, From: clinic,
				Status: twilioguard.Pending, Attempts: 1,
				LeaseUntil: now.Add(-time.Second), CreatedAt: now.Add(-time.Minute),
			})
			require.NoError(t, err)
			require.True(t, created)
			if sent { // the vanished process's request did reach Twilio
				resp, err := e.fake.Client().Do(createRequest(t, e.fake, clinic, patient, body))
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
			}
			before := e.creates()

			d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
			require.NoError(t, err)
			e.requireOneMessage(d)
			if sent {
				assert.Equal(t, before, e.creates())
				assert.Equal(t, []twilioguard.AuditEvent{reconciled}, e.audit.events("appt-1"))
				assert.Equal(t, 1, d.Attempts)
			} else {
				assert.Equal(t, before+1, e.creates())
				assert.Equal(t, []twilioguard.AuditEvent{missing, attempt, accepted}, e.audit.events("appt-1"))
				assert.Equal(t, 2, d.Attempts)
			}
		})
	}
}

// A delivery taken over but never attempted (its Send vanished before
// its first request) needs no reconciliation.
func TestAbandonedUnattemptedDeliveryIsSentAtOnce(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	_, _, err := e.store.Create(t.Context(), twilioguard.Delivery{
		OrgID: "org-1", Key: "appt-1", To: patient, From: clinic,
		Status: twilioguard.Pending, Attempts: 0, LeaseUntil: now.Add(-time.Second), CreatedAt: now,
	})
	require.NoError(t, err)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 0, e.fake.Count(twiliotest.List))
	assert.Equal(t, 1, d.Attempts)
}

// A request that never left (the connection was refused) is retried and
// not counted.
func TestRefusedConnectionCountsNoAttempt(t *testing.T) {
	e := newEnv(t)
	closed := twiliotest.NewServer()
	closed.Close() // its port now refuses connections
	e.cfg.BaseURL = closed.URL
	g := e.newGuard()
	d, err := g.Send(t.Context(), msg("org-1", "appt-1"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.CircuitOpen, ge.Class, "three refused connections open the org's breaker")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, 0, ge.Attempts)
	assert.Equal(t, 0, d.Attempts)
	assert.Equal(t, twilioguard.Pending, d.Status, "not Unknown: nothing reached Twilio")
	assert.Equal(t, []twilioguard.AuditEvent{attempt, twilioguard.EventFailed, attempt, twilioguard.EventFailed,
		attempt, twilioguard.EventFailed}, e.audit.events("appt-1"))
	assert.Equal(t, "network", e.audit.all()[1].Class)
}

// Twilio's status in the create answer is kept; one the guard does not
// know as a step forward is read as queued.
func TestCreateAnswerStatus(t *testing.T) {
	e := newEnv(t)
	e.cfg.From, e.cfg.MessagingServiceSID = "", "MG00000000000000000000000000000001"
	d, err := e.newGuard().Send(t.Context(), msg("org-1", "svc"))
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Accepted, d.Status)

	e.fake.Script(clinic, twiliotest.Fault{Status: 201, Body: `{"sid":"SMx","status":"unknown","error_code":30001}`})
	d, err = e.guard.Send(t.Context(), msg("org-1", "odd"))
	require.NoError(t, err)
	assert.Equal(t, "SMx", d.SID)
	assert.Equal(t, twilioguard.Queued, d.Status)
	assert.Equal(t, 30001, d.ErrorCode)
}

// A Send that finds another process's live lease waits for its outcome.
func TestSendWaitsForAnotherProcessesLease(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	held, _, err := e.store.Create(t.Context(), twilioguard.Delivery{
		OrgID: "org-1", Key: "appt-1", To: patient, From: clinic,
		Status: twilioguard.Pending, Attempts: 1, LeaseUntil: now.Add(time.Hour), CreatedAt: now,
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	d, err := e.guard.Send(ctx, msg("org-1", "appt-1"))
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(err), "gave up waiting")
	assert.Equal(t, twilioguard.Pending, d.Status)

	go func() {
		time.Sleep(30 * time.Millisecond)
		done := held
		done.SID, done.Status, done.LeaseUntil = "SMother", twilioguard.Queued, time.Time{}
		_, err := e.store.Update(context.Background(), done)
		assert.NoError(t, err)
	}()
	d, err = e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.Equal(t, "SMother", d.SID)
	assert.Equal(t, 0, e.creates())
}

// sendOthers makes n more texts to the patient from the clinic, sent at
// once, as other systems of the clinic would.
func sendOthers(t *testing.T, fake *twiliotest.Server, n int) {
	t.Helper()
	c := fake.Client()
	for i := range n {
		resp, err := c.Do(createRequest(t, fake, clinic, patient, fmt.Sprintf("other text %d", i)))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		msgs := fake.Messages()
		require.NoError(t, fake.SetStatus(msgs[len(msgs)-1].SID, "delivered", 0))
	}
}

// The lost message was sent, and more texts were sent to the number
// since: the DateSent pages are followed (as twilio-go follows
// next_page_uri) until it is found.
func TestReconcileFollowsDateSentPages(t *testing.T) {
	var e *env
	hook := twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		msgs := e.fake.Messages()
		require.NoError(t, e.fake.SetStatus(msgs[len(msgs)-1].SID, "delivered", 0))
		sendOthers(t, e.fake, 55)
	}))
	e = newEnv(t, hook)
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.Equal(t, e.fake.Messages()[0].SID, d.SID)
	assert.Equal(t, twilioguard.Delivered, d.Status)
	assert.Len(t, e.fake.Messages(), 56)
	var lists []string
	for _, r := range e.fake.Requests() {
		if r.Op == twiliotest.List {
			lists = append(lists, r.Params.Get("Page")+"/"+fmt.Sprint(r.Params.Get("DateSent>") != ""))
		}
	}
	assert.Equal(t, []string{"/false", "/true", "1/true"}, lists, "first page, DateSent page 0, its next page")
}

// Reconciliation reads at most 20 pages; beyond, the delivery stays
// Unknown rather than risk a second text.
func TestReconcileGivesUpOnTooManyPages(t *testing.T) {
	var e *env
	hook := twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		if len(e.fake.Messages()) == 0 { // the first answer was lost before Twilio created anything
			sendOthers(t, e.fake, 20*50+1)
		}
	}))
	e = newEnv(t, hook)
	e.fake.Script(clinic, twiliotest.Fault{Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.Permanent, ge.Class)
	assert.Equal(t, twilioguard.Unknown, d.Status)
	assert.Equal(t, 1+20*50+1, e.creates(), "nothing sent again")
	assert.Equal(t, 21, e.fake.Count(twiliotest.List), "the first page and 20 DateSent pages")
}

// A Send whose lease ran out while its request was in flight: another
// instance takes the delivery over, reconciles and records the message;
// the first defers to that record. One text.
func TestLeaseTakeoverReconcilesTheMessageInFlight(t *testing.T) {
	e := newEnv(t, twilioguard.WithLease(time.Millisecond))
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Delay: 300 * time.Millisecond})
	first := make(chan twilioguard.Delivery, 1)
	go func() {
		d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
		assert.NoError(t, err)
		first <- d
	}()
	require.Eventually(t, func() bool { return len(e.fake.Messages()) == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(2 * time.Millisecond) // the lease has run out
	other := e.newGuard(twilioguard.WithLease(time.Minute))
	d, err := other.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, d.SID, (<-first).SID)
	assert.Equal(t, 1, e.creates())
	assert.Equal(t, []twilioguard.AuditEvent{attempt, reconciled, accepted}, e.audit.events("appt-1"),
		"the second reconciled while the first waited for its answer")
}

// A 4xx page that is not Twilio's (a proxy's 404, say) does not refuse
// the message for good: the key can be sent once the path is fixed.
func TestProxyErrorPageDoesNotFailTheKeyForGood(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{HTML: true, Status: 404})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.Permanent, ge.Class)
	assert.Equal(t, 404, ge.HTTPStatus)
	assert.Equal(t, 0, ge.Code)
	assert.Equal(t, twilioguard.Pending, d.Status)
	assert.Empty(t, e.fake.Messages())

	d, err = e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 2, d.Attempts)
}

// Texts sent to the number before the first attempt, the same text
// included, are not the lost message: reconciliation reads the pages sent
// since the start of that day (Twilio filters by day) until the messages
// are older than the attempt, finds nothing, and sends.
func TestReconcileStopsAtMessagesSentBeforeTheFirstAttempt(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := newEnvWithFake(t, []twiliotest.Option{twiliotest.WithClock(clock)}, twilioguard.WithClock(clock))
	for range 55 { // the same reminder, sent this morning by another system
		sid := sendDirect(t, e.fake, url.Values{"From": {clinic}, "To": {patient}, "Body": {body}})
		require.NoError(t, e.fake.SetStatus(sid, "delivered", 0))
	}
	now = now.Add(3 * time.Hour)
	e.fake.Script(clinic, twiliotest.Fault{Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	msgs := e.fake.Messages()
	require.Len(t, msgs, 56)
	assert.Equal(t, msgs[55].SID, d.SID, "a new text: the morning's are older than the first attempt")
	assert.Equal(t, []twilioguard.AuditEvent{attempt, lost, missing, attempt, accepted}, e.audit.events("appt-1"))

	var lists []string
	for _, r := range e.fake.Requests() {
		if r.Op == twiliotest.List {
			lists = append(lists, r.Params.Get("DateSent>"))
		}
	}
	assert.Equal(t, []string{"", "2026-03-02T00:00:00Z"}, lists,
		"one unfiltered page, then one page since midnight: its last text predates the attempt")
}

// Through a Messaging Service the sender is not known in advance: a text
// from another service is not the lost message.
func TestReconcileIgnoresAnotherMessagingServicesText(t *testing.T) {
	e := newEnv(t)
	e.cfg.From, e.cfg.MessagingServiceSID = "", "MG00000000000000000000000000000001"
	g := e.newGuard()
	sendDirect(t, e.fake, url.Values{"MessagingServiceSid": {"MG00000000000000000000000000000002"},
		"To": {patient}, "Body": {body}})
	e.fake.Script(e.cfg.MessagingServiceSID, twiliotest.Fault{Status: 500})
	d, err := g.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	msgs := e.fake.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, msgs[1].SID, d.SID)
	assert.Equal(t, e.cfg.MessagingServiceSID, msgs[1].MessagingServiceSID)
}

// A listed status the guard does not know as a step forward is read as
// queued.
func TestReconciledStatusUnknownToTheGuard(t *testing.T) {
	var e *env
	e = newEnv(t, twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		require.NoError(t, e.fake.SetStatus(e.fake.Messages()[0].SID, "unknown", 0))
	})))
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Queued, d.Status)
}

// The record of a reconciled message that fails is retried; the message
// is not sent again.
func TestReconciledMessageWhoseRecordFailsIsRecordedOnRetry(t *testing.T) {
	store := &flakyStore{failUpdateAt: 2} // 1: the lost answer, 2: the reconciled message
	e := newEnv(t, twilioguard.WithStore(store))
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 1, e.creates())
	stored, err := store.Get(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, d.SID, stored.SID)
}
