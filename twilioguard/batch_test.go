package twilioguard_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// Two clinics with numbers of their own.
const (
	downClinic = "+15550000001"
	upClinic   = "+15550000002"
)

func clinicMsg(org, from, key string) twilioguard.Message {
	m := msg(org, key)
	m.From = from
	return m
}

// One clinic's Twilio number fails; the other clinic's texts go out as if
// nothing happened, and the failing clinic's breaker stops its requests.
func TestEachOrgHasItsOwnBreaker(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(downClinic, twiliotest.Fault{Status: 500, Times: 1000})

	_, err := e.guard.Send(t.Context(), clinicMsg("down", downClinic, "a"))
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.CircuitOpen, ge.Class, "3 failed attempts open the breaker, which ends the retries")
	requests := e.fake.Count(twiliotest.Any)

	start := time.Now()
	_, err = e.guard.Send(t.Context(), clinicMsg("down", downClinic, "b"))
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, safecall.CircuitOpen, ge.Class)
	assert.Equal(t, 0, ge.Attempts)
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.Equal(t, requests, e.fake.Count(twiliotest.Any), "an open breaker sends nothing")
	assert.Less(t, time.Since(start), 50*time.Millisecond, "and fails fast")

	for i := range 5 {
		d, err := e.guard.Send(t.Context(), clinicMsg("up", upClinic, fmt.Sprint(i)))
		require.NoError(t, err, "another clinic's outage changes nothing here")
		assert.NotEmpty(t, d.SID)
	}
	assert.Len(t, e.fake.Messages(), 5)
}

// A rate limit says Twilio is alive: it is neither a success nor a failure
// for the org's breaker.
func TestRateLimitsDoNotTripTheBreaker(t *testing.T) {
	reg := breaker.NewRegistry[string](breaker.Settings{})
	e := newEnv(t, twilioguard.WithBreakers(reg), twilioguard.WithCallOptions(safecall.WithRetries(1)))
	e.fake.Script(clinic, twiliotest.Fault{Status: 429, Times: 10})
	for i := range 5 { // ten 429s in a row
		_, err := e.guard.Send(t.Context(), msg("org-1", fmt.Sprint(i)))
		assert.Equal(t, safecall.RateLimit, safecall.ClassOf(err))
	}
	assert.Equal(t, breaker.Closed, reg.Get("org-1").State())
	assert.Equal(t, 0, reg.Get("org-1").Snapshot().ConsecutiveFailures)
}

func TestSendBatchKeepsOrderAndConcurrency(t *testing.T) {
	counter := &inflight{next: http.DefaultTransport}
	e := newEnv(t,
		twilioguard.WithHTTPClient(&http.Client{Transport: counter}),
		twilioguard.WithConcurrency(4))
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	e.fake.Script(clinic, twiliotest.Fault{Delay: 5 * time.Millisecond, Times: 1000})

	var msgs []twilioguard.Message
	for i := range 40 {
		m := msg(fmt.Sprintf("org-%d", i%5), fmt.Sprintf("k-%d", i))
		if i == 7 {
			m.To = "not a number"
		}
		msgs = append(msgs, m)
	}
	msgs = append(msgs, msgs[3]) // the same key twice in one batch
	// Milliseconds of work: a Send that waits out a lease (2 minutes) fails.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res := e.guard.SendBatch(ctx, msgs)
	require.Len(t, res, len(msgs))
	for i, r := range res {
		if i == 7 {
			assert.ErrorIs(t, r.Err, twilioguard.ErrInvalidNumber)
			continue
		}
		require.NoError(t, r.Err, i)
		assert.Equal(t, msgs[i].Key, r.Delivery.Key, "results in input order")
		assert.Equal(t, msgs[i].OrgID, r.Delivery.OrgID)
	}
	assert.Equal(t, res[3].Delivery.SID, res[40].Delivery.SID)
	assert.Equal(t, 39, e.creates())
	assert.LessOrEqual(t, counter.max.Load(), int32(4), "at most WithConcurrency requests at once")
	assert.Greater(t, counter.max.Load(), int32(1), "and more than one")
	assert.Empty(t, e.guard.SendBatch(t.Context(), nil))
}

// A failing org's messages fail fast once its breaker opens, and waiting
// to retry holds no request slot: the healthy org's texts all go out.
func TestSendBatchIsNotHeldUpByAFailingOrg(t *testing.T) {
	e := newEnv(t, twilioguard.WithConcurrency(4))
	e.fake.Script(downClinic, twiliotest.Fault{Status: 500, Times: 10000})
	var msgs []twilioguard.Message
	for i := range 200 {
		if i%2 == 0 {
			msgs = append(msgs, clinicMsg("down", downClinic, fmt.Sprint(i)))
		} else {
			msgs = append(msgs, clinicMsg("up", upClinic, fmt.Sprint(i)))
		}
	}
	res := e.guard.SendBatch(t.Context(), msgs)
	open := 0
	for i, r := range res {
		if msgs[i].OrgID == "up" {
			require.NoError(t, r.Err)
			continue
		}
		require.Error(t, r.Err)
		var ge *twilioguard.Error
		require.ErrorAs(t, r.Err, &ge)
		if ge.Class == safecall.CircuitOpen && ge.Attempts == 0 {
			open++
		}
	}
	assert.Len(t, e.fake.Messages(), 100)
	assert.Greater(t, open, 80, "most of the failing org's messages never reach Twilio")
	down := 0
	for _, r := range e.fake.Requests() {
		if r.Sender == downClinic && r.Op == twiliotest.Create {
			down++
		}
	}
	assert.Less(t, down, 30, "its breaker stopped the requests")
}

// inflight is a transport that counts the requests in flight.
type inflight struct {
	next http.RoundTripper
	now  atomic.Int32
	max  atomic.Int32
	mu   sync.Mutex
}

func (c *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	c.mu.Lock()
	if n > c.max.Load() {
		c.max.Store(n)
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// A Send refused by an open breaker, or whose caller had already given
// up, made no request: the delivery counts none.
func TestRefusedSendCountsNoAttempt(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(downClinic, twiliotest.Fault{Status: 500, Times: 100})
	_, err := e.guard.Send(t.Context(), clinicMsg("down", downClinic, "a"))
	require.Error(t, err)

	d, err := e.guard.Send(t.Context(), clinicMsg("down", downClinic, "b"))
	assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
	assert.Equal(t, 0, d.Attempts)
	stored, err := e.guard.Delivery(t.Context(), "down", "b")
	require.NoError(t, err)
	assert.Equal(t, 0, stored.Attempts, "no request was made")
	require.True(t, stored.LeaseUntil.IsZero(), "the lease is given back for the next Send")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = e.guard.Send(ctx, clinicMsg("up", upClinic, "c"))
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
	stored, err = e.guard.Delivery(t.Context(), "up", "c")
	require.NoError(t, err)
	assert.Equal(t, 0, stored.Attempts)
	require.True(t, stored.LeaseUntil.IsZero(), "the lease is given back for the next Send")

	d, err = e.guard.Send(t.Context(), clinicMsg("up", upClinic, "c"))
	require.NoError(t, err)
	assert.Equal(t, 1, d.Attempts, "the first request is the first attempt")
}

func TestSendBatchWithADoneContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := e.guard.SendBatch(ctx, []twilioguard.Message{msg("org-1", "a"), msg("org-1", "b")})
	for _, r := range res {
		assert.Equal(t, safecall.Canceled, safecall.ClassOf(r.Err))
	}
	assert.Equal(t, 0, e.fake.Count(twiliotest.Any))
}

// A Send that waits to retry gives its request slot up: with one slot, a
// batch whose first text meets a 429 sends the others meanwhile.
func TestSendBatchRetryWaitsHoldNoSlot(t *testing.T) {
	var e *env
	// The retry wait lasts until the five others went out (5s at most).
	waitForOthers := twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		for deadline := time.Now().Add(5 * time.Second); e.fake.Count(twiliotest.Any) < 6 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}))
	e = newEnv(t, twilioguard.WithConcurrency(1), waitForOthers)
	e.fake.Script(downClinic, twiliotest.Fault{Status: 429})
	msgs := []twilioguard.Message{clinicMsg("down", downClinic, "first")}
	for i := range 5 {
		msgs = append(msgs, clinicMsg("up", upClinic, fmt.Sprint(i)))
	}
	res := e.guard.SendBatch(t.Context(), msgs)
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	var order []string
	for _, r := range e.fake.Requests() {
		order = append(order, r.Sender)
	}
	assert.Equal(t, []string{downClinic, upClinic, upClinic, upClinic, upClinic, upClinic, downClinic}, order,
		"the five others went out while the first waited")
}

// A Send back from its retry wait gets the next free request slot, ahead
// of the messages not yet started.
func TestSendBatchRetryGoesBeforeNewMessages(t *testing.T) {
	var e *env
	// The retry wait lasts until three others went out (5s at most).
	waitForThree := twilioguard.WithCallOptions(safecall.WithOnRetry(func(safecall.RetryEvent) {
		for deadline := time.Now().Add(5 * time.Second); e.fake.Count(twiliotest.Any) < 4 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}))
	e = newEnv(t, twilioguard.WithConcurrency(1), waitForThree)
	e.fake.Script(downClinic, twiliotest.Fault{Status: 429})
	e.fake.Script(upClinic, twiliotest.Fault{Delay: 10 * time.Millisecond, Times: 40}) // a busy machine's pace
	msgs := []twilioguard.Message{clinicMsg("down", downClinic, "first")}
	for i := range 40 {
		msgs = append(msgs, clinicMsg("up", upClinic, fmt.Sprint(i)))
	}
	for _, r := range e.guard.SendBatch(t.Context(), msgs) {
		require.NoError(t, r.Err)
	}
	retried := -1
	for i, r := range e.fake.Requests() {
		if i > 0 && r.Sender == downClinic {
			retried = i
		}
	}
	assert.Greater(t, retried, 3)
	assert.Less(t, retried, 30, "the retry did not wait for the whole batch (41 requests)")
}

// A Send that gave up waiting for another's request still names its key.
func TestFollowerThatGivesUpNamesItsKey(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{Delay: time.Minute})
	leaderCtx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.guard.Send(leaderCtx, msg("org-1", "appt-1"))
	}()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { return e.creates() == 1 }, 5*time.Second, time.Millisecond)

	ctx, stop := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer stop()
	d, err := e.guard.Send(ctx, msg("org-1", "appt-1"))
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
	assert.Equal(t, "org-1", d.OrgID)
	assert.Equal(t, "appt-1", d.Key)
	var ge *twilioguard.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "appt-1", ge.Key)
}
