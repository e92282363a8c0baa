package twilioguard_test

import (
	"errors"
	"fmt"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// A page of the list endpoint larger than the bound on error answers is
// still read in full as a success: reconciling finds the message on it.
func TestReconcileReadsALargeListPage(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("Reminder: bring your insurance card and arrive ten minutes early. ", 24) // ~1.6 kB
	for range 60 {                                                                                   // more than a page of 50: ~100 kB on the first page
		sendDirect(t, e.fake, url.Values{"From": {clinic}, "To": {patient}, "Body": {long}})
	}
	e.fake.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.Equal(t, 61, e.creates(), "the message is found, not sent again")
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, []twilioguard.AuditEvent{attempt, lost, reconciled}, e.audit.events("appt-1"))
}

// An error answer that is not Twilio's JSON error, such as a proxy's HTML
// page, makes an error saying it was not understood.
func TestAnHTMLErrorPageIsReportedAsNotUnderstood(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(clinic, twiliotest.Fault{HTML: true, Status: 502, Times: 10})
	_, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.Error(t, err)
	assert.Contains(t, errors.Unwrap(err).Error(), "; twilio: HTTP 502, answer not understood")
}

// The Guard's own transport keeps as many idle connections as a batch
// uses, so that the next batch opens none: 4 × DefaultConcurrency, or
// twice the concurrency when that is more.
func TestOwnTransportKeepsABatchOfConnections(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  []twilioguard.Option
		calls int
	}{
		{name: "default concurrency", calls: 4 * twilioguard.DefaultConcurrency},
		{name: "concurrency 40", opts: []twilioguard.Option{twilioguard.WithConcurrency(40)}, calls: 80},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			var reused atomic.Int32
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused.Add(1)
				}
			}})
			round := func(r int) {
				// Each answer is held back, so that all calls of the round
				// are in flight together, each on a connection of its own.
				e.fake.Script(clinic, twiliotest.Fault{Delay: 300 * time.Millisecond, Times: tt.calls})
				var wg sync.WaitGroup
				for i := range tt.calls {
					wg.Go(func() {
						_, err := e.guard.Send(ctx, msg("org-1", fmt.Sprint(r, "-", i)))
						assert.NoError(t, err)
					})
				}
				wg.Wait()
			}
			round(1)
			require.Zero(t, reused.Load())
			round(2)
			assert.Equal(t, int32(tt.calls), reused.Load(), "every connection of the first round is kept for the second")
		})
	}
}

// TestCallerTraceHooksFireOncePerRequest: a trace in the caller's context
// sees each request once. The transport put its own trace on every
// request, and httptrace composed the caller's hooks into it each time,
// so the caller's hooks fired twice on a second request of one call (a
// second page while reconciling), three times on a third; and once calls
// were pooled, on every request of the calls made after.
func TestCallerTraceHooksFireOncePerRequest(t *testing.T) {
	e := newEnv(t)
	for range 120 { // more than two pages of 50 to read while reconciling
		sendDirect(t, e.fake, url.Values{"From": {clinic}, "To": {patient}, "Body": {"Hello"}})
	}
	var wrote atomic.Int32
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		wrote.Add(1)
	}})
	before := len(e.fake.Requests())
	e.fake.Script(clinic, twiliotest.Fault{Status: 500}) // ambiguous: reconciling reads every page, finds nothing, sends again
	_, err := e.guard.Send(ctx, msg("org-1", "appt-1"))
	require.NoError(t, err)
	for i := range 5 {
		_, err := e.guard.Send(ctx, msg("org-1", fmt.Sprint("more-", i)))
		require.NoError(t, err)
	}
	requests := len(e.fake.Requests()) - before
	require.Equal(t, 3, e.fake.Count(twiliotest.List), "three pages")
	require.Equal(t, 10, requests, "a create, three pages of the list, a create, five creates")
	assert.Equal(t, int32(requests), wrote.Load())
}
