package twilioguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestSendRecordsTheDelivery(t *testing.T) {
	e := newEnv(t)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, twilioguard.Queued, d.Status)
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, patient, d.To)
	assert.Equal(t, clinic, d.From)
	assert.True(t, d.LeaseUntil.IsZero())
	assert.True(t, d.Accepted())

	stored, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, d, stored)
	_, err = e.guard.Delivery(t.Context(), "org-1", "nope")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)

	assert.Equal(t, []twilioguard.AuditEvent{twilioguard.EventAttempt, twilioguard.EventAccepted}, e.audit.events("appt-1"))
	entries := e.audit.all()
	assert.Equal(t, "+1******4567", entries[1].To)
	assert.Equal(t, d.SID, entries[1].SID)
	assert.Equal(t, 1, entries[1].Attempt)
}

func TestSendNormalizesWhatPeopleType(t *testing.T) {
	e := newEnv(t)
	m := msg("org-1", "k")
	m.To = " +1 (555) 123-45.67 "
	d, err := e.guard.Send(t.Context(), m)
	require.NoError(t, err)
	assert.Equal(t, patient, d.To)
	assert.Equal(t, patient, e.fake.Messages()[0].To)
}

func TestSendValidatesBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*twilioguard.Message)
		target error
	}{
		{"no org", func(m *twilioguard.Message) { m.OrgID = "" }, twilioguard.ErrInvalidMessage},
		{"no key", func(m *twilioguard.Message) { m.Key = "" }, twilioguard.ErrInvalidMessage},
		{"long key", func(m *twilioguard.Message) { m.Key = strings.Repeat("k", 256) }, twilioguard.ErrInvalidMessage},
		{"empty body", func(m *twilioguard.Message) { m.Body = "" }, twilioguard.ErrInvalidMessage},
		{"blank body", func(m *twilioguard.Message) { m.Body = " \n\t" }, twilioguard.ErrInvalidMessage},
		{"1601 characters", func(m *twilioguard.Message) { m.Body = strings.Repeat("é", 1601) }, twilioguard.ErrInvalidMessage},
		{"invalid UTF-8", func(m *twilioguard.Message) { m.Body = "\xff" }, twilioguard.ErrInvalidMessage},
		{"no plus", func(m *twilioguard.Message) { m.To = "15551234567" }, twilioguard.ErrInvalidNumber},
		{"letters", func(m *twilioguard.Message) { m.To = "+1555CALLNOW" }, twilioguard.ErrInvalidNumber},
		{"leading zero", func(m *twilioguard.Message) { m.To = "+0551234567" }, twilioguard.ErrInvalidNumber},
		{"too short", func(m *twilioguard.Message) { m.To = "+123456" }, twilioguard.ErrInvalidNumber},
		{"too long", func(m *twilioguard.Message) { m.To = "+1234567890123456" }, twilioguard.ErrInvalidNumber},
		{"empty to", func(m *twilioguard.Message) { m.To = "" }, twilioguard.ErrInvalidNumber},
		{"bad from", func(m *twilioguard.Message) { m.From = "clinic" }, twilioguard.ErrInvalidNumber},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msg("org-1", "k-"+tt.name)
			tt.edit(&m)
			_, err := e.guard.Send(t.Context(), m)
			require.ErrorIs(t, err, tt.target)
			var ge *twilioguard.Error
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, safecall.Permanent, ge.Class)
			assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
			assert.Equal(t, 0, ge.Attempts)
			assert.NotContains(t, err.Error(), "5551234567")
			assert.NotContains(t, err.Error(), "attempt", "none was made")
		})
	}
	assert.Equal(t, 0, e.fake.Count(twiliotest.Any), "bad input costs no request")

	m := msg("org-1", "limit")
	m.Body = strings.Repeat("é", 1600)
	_, err := e.guard.Send(t.Context(), m)
	require.NoError(t, err, "1,600 characters is within Twilio's limit, whatever the bytes")
}

func TestSendOfAKeyWithASIDMakesNoRequest(t *testing.T) {
	e := newEnv(t)
	first, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	m := msg("org-1", "appt-1")
	m.Body = "a different text" // the key decides, not the content
	again, err := e.guard.Send(t.Context(), m)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, 1, e.creates())

	other, err := e.guard.Send(t.Context(), msg("org-2", "appt-1"))
	require.NoError(t, err, "keys are per org")
	assert.NotEqual(t, first.SID, other.SID)
}

func TestConcurrentSendsOfOneKeyMakeOneRequest(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{Delay: 30 * time.Millisecond}) // keep the first request in flight
	const n = 40
	var wg sync.WaitGroup
	sids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
			sids[i], errs[i] = d.SID, err
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, sids[0], sids[i])
	}
	assert.Equal(t, 1, e.creates())
	assert.Len(t, e.fake.Messages(), 1)
}

func TestConcurrentSendsAcrossProcessesMakeOneRequest(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{Delay: 30 * time.Millisecond})
	guards := []*twilioguard.Guard{e.guard, e.newGuard(), e.newGuard()} // three processes, one store
	var wg sync.WaitGroup
	sids := make([]string, len(guards))
	for i, g := range guards {
		wg.Go(func() {
			d, err := g.Send(t.Context(), msg("org-1", "appt-1"))
			assert.NoError(t, err)
			sids[i] = d.SID
		})
	}
	wg.Wait()
	assert.Equal(t, 1, e.creates())
	assert.Equal(t, sids[0], sids[1])
	assert.Equal(t, sids[0], sids[2])
	assert.NotEmpty(t, sids[0])
}

func TestRateLimitIsRetriedWithRetryAfter(t *testing.T) {
	var waits []time.Duration
	e := newEnv(t, twilioguard.WithCallOptions(safecall.WithOnRetry(func(ev safecall.RetryEvent) {
		waits = append(waits, ev.Wait)
	})))
	e.fake.Script(clinic, twiliotest.Fault{Status: 429, RetryAfter: "1", Times: 2})

	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 3, d.Attempts, "two 429s and a success: three requests")
	assert.Equal(t, []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}, waits,
		"Retry-After (1s) replaces the 1ms backoff, capped by WithMaxWait")
	assert.Equal(t, []twilioguard.AuditEvent{
		twilioguard.EventAttempt, twilioguard.EventFailed,
		twilioguard.EventAttempt, twilioguard.EventFailed,
		twilioguard.EventAttempt, twilioguard.EventAccepted,
	}, e.audit.events("appt-1"))
	assert.Equal(t, "rate-limit", e.audit.all()[1].Class)
	assert.Equal(t, 20429, e.audit.all()[1].Code)
	assert.Equal(t, 429, e.audit.all()[1].HTTPStatus)
}

func TestPermanentCodesAreNotRetriedAndNeverTripTheBreaker(t *testing.T) {
	tests := []struct {
		to   string
		code int
	}{
		{twiliotest.ToInvalid, 21211},
		{twiliotest.ToUnroutable, 21612},
		{twiliotest.ToNoPermission, 21408},
		{twiliotest.ToBlocked, 21610},
		{twiliotest.ToNotMobile, 21614},
	}
	e := newEnv(t)
	for round := range 2 { // ten refusals in a row for one org
		for i, tt := range tests {
			m := msg("org-1", "refused-"+strconv.Itoa(round*10+i))
			m.To = tt.to
			d, err := e.guard.Send(t.Context(), m)
			var ge *twilioguard.Error
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, safecall.Permanent, ge.Class)
			assert.Equal(t, tt.code, ge.Code)
			assert.Equal(t, 400, ge.HTTPStatus)
			assert.Equal(t, 1, ge.Attempts)
			var te *client.TwilioRestError
			require.ErrorAs(t, err, &te, "errors unwrap to twilio-go's error")
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, twilioguard.Failed, d.Status)
			assert.Equal(t, tt.code, d.ErrorCode)
			assert.Empty(t, d.SID)
			assert.NotContains(t, err.Error(), tt.to, "the error text never repeats the number")
		}
	}
	assert.Equal(t, 10, e.creates(), "one request each, no retry")

	// The org's breaker stayed closed: the next text goes out.
	d, err := e.guard.Send(t.Context(), msg("org-1", "fine"))
	require.NoError(t, err)
	assert.NotEmpty(t, d.SID)

	// A refused key answers the same refusal again, without a request.
	m := msg("org-1", "refused-3")
	m.To = twiliotest.ToBlocked
	_, err = e.guard.Send(t.Context(), m)
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 21610, te.Code)
	assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
	assert.Equal(t, 11, e.creates())
}

func TestAuthFailureIsNotRetried(t *testing.T) {
	e := newEnv(t)
	e.cfg.AuthToken = "wrongtoken0123456789abcdef012345"
	g := e.newGuard()
	_, err := g.Send(t.Context(), msg("org-1", "appt-1"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.Auth, ge.Class)
	assert.Equal(t, 20003, ge.Code)
	assert.Equal(t, 401, ge.HTTPStatus)
	assert.Equal(t, 1, e.creates())
	assert.Empty(t, e.fake.Messages())
	d, err := g.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Pending, d.Status, "never accepted: the next Send sends at once")
	assert.False(t, d.Accepted())
	assert.True(t, d.LeaseUntil.IsZero(), "the lease is released")
	assert.False(t, errors.Is(err, twilioguard.ErrInvalidMessage))
}

// An error answer is read in full and its connection reused (twilio-go
// neither reads it to the end nor closes it).
func TestErrorAnswersReleaseTheirConnection(t *testing.T) {
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	e := newEnv(t, twilioguard.WithHTTPClient(&http.Client{Transport: tr}))
	for i, to := range []string{twiliotest.ToInvalid, twiliotest.ToBlocked, patient} {
		m := msg("org-1", strconv.Itoa(i))
		m.To = to
		_, _ = e.guard.Send(t.Context(), m)
	}
	assert.Equal(t, 3, e.creates())
	assert.Equal(t, int32(1), dials.Load())

	// An answer that goes on after its JSON: twilio-go's decoder stops at
	// the end of the value, and would leave the rest, and the connection,
	// hanging.
	padded := `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}` + strings.Repeat(" ", 8<<10)
	e.fake.Script(clinic, twiliotest.Fault{Status: 400, Body: padded})
	_, err := e.guard.Send(t.Context(), msg("org-1", "padded"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 400, ge.HTTPStatus)
	assert.Equal(t, 21211, ge.Code)
	_, err = e.guard.Send(t.Context(), msg("org-1", "after"))
	require.NoError(t, err)
	assert.Equal(t, int32(1), dials.Load(), "the padded answer's connection is reused")
}

// panickingStore panics in Create once release is closed, after telling
// entered that it got there.
type panickingStore struct {
	twilioguard.MemoryStore
	entered, release chan struct{}
}

func (s *panickingStore) Create(ctx context.Context, d twilioguard.Delivery) (twilioguard.Delivery, bool, error) {
	close(s.entered)
	<-s.release
	panic("store broke")
}

func TestFollowersOfASendThatPanicsGetAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &panickingStore{entered: make(chan struct{}), release: make(chan struct{})}
		g, err := twilioguard.New(twilioguard.Config{
			AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: strings.Repeat("a", 32),
			From: clinic, BaseURL: "http://127.0.0.1:1",
		}, twilioguard.WithStore(store))
		require.NoError(t, err)

		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_, _ = g.Send(t.Context(), msg("org-1", "appt-1"))
		}()
		<-store.entered
		var followerErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, followerErr = g.Send(t.Context(), msg("org-1", "appt-1"))
		}()
		synctest.Wait() // the follower waits for the Send under way
		close(store.release)
		<-done

		assert.Equal(t, "store broke", <-panicked, "the panic reaches the caller of the Send that ran")
		var e *twilioguard.Error
		require.ErrorAs(t, followerErr, &e, "the follower is not left waiting")
		assert.EqualError(t, e.Err, "twilioguard: send panicked")
	})
}
