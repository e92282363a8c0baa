package safecall_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func TestTransportRetryAfter(t *testing.T) {
	date := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // the server's clock, an odd one
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "120"}, 2 * time.Minute},
		{"leading zero", map[string]string{"Retry-After": "07"}, 7 * time.Second},
		{"http-date against the server's Date", map[string]string{
			"Date": date.Format(http.TimeFormat), "Retry-After": date.Add(90 * time.Second).Format(http.TimeFormat),
		}, 90 * time.Second},
		{"http-date in the past", map[string]string{
			"Date": date.Format(http.TimeFormat), "Retry-After": date.Add(-time.Minute).Format(http.TimeFormat),
		}, 0},
		{"malformed", map[string]string{"Retry-After": "soon"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			srv := newFaultServer(t, fault{status: 429, header: tt.header}, fault{status: 429, header: tt.header})
			var ev events
			client, _ := newClient(t, fast(safecall.WithOnRetry(ev.add), safecall.WithRetries(1), safecall.WithJitter(0))...)
			_, _, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
			var e *safecall.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, safecall.RateLimit, e.Class)
			assert.Equal(t, tt.want, e.RetryAfter)
			var se *safecall.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.want, se.RetryAfter)
			wait := time.Millisecond // the backoff
			if tt.want > 0 {
				wait = 5 * time.Millisecond // the hint, capped by WithMaxWait
			}
			assert.Equal(t, []time.Duration{wait}, ev.waits())
		})
	}
}

func TestTransportIdempotency(t *testing.T) {
	e503 := []fault{{status: 503}, {status: 503}, {status: 503}, {status: 503}}
	tests := []struct {
		name     string
		method   string
		header   string // idempotency header set to "k1"
		opts     []safecall.Option
		faults   []fault
		requests int
	}{
		{name: "GET", method: http.MethodGet, faults: e503, requests: 4},
		{name: "PUT", method: http.MethodPut, faults: e503, requests: 4},
		{name: "DELETE", method: http.MethodDelete, faults: e503, requests: 4},
		{name: "HEAD", method: http.MethodHead, faults: e503, requests: 4},
		{name: "OPTIONS", method: http.MethodOptions, faults: e503, requests: 4},
		{name: "TRACE", method: http.MethodTrace, faults: e503, requests: 4},
		{name: "POST without key", method: http.MethodPost, faults: e503, requests: 1},
		{name: "PATCH without key", method: http.MethodPatch, faults: e503, requests: 1},
		{name: "POST with Idempotency-Key", method: http.MethodPost, header: "Idempotency-Key", faults: e503, requests: 4},
		{name: "POST with X-Idempotency-Key", method: http.MethodPost, header: "X-Idempotency-Key", faults: e503, requests: 4},
		{name: "POST reset", method: http.MethodPost, faults: []fault{{reset: true}}, requests: 1},
		{name: "POST 429: not processed", method: http.MethodPost, faults: []fault{{status: 429}}, requests: 2},
		{name: "POST declared idempotent", method: http.MethodPost, opts: []safecall.Option{safecall.WithIdempotent(true)}, faults: e503, requests: 4},
		{name: "GET declared not idempotent", method: http.MethodGet, opts: []safecall.Option{safecall.WithIdempotent(false)}, faults: e503, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			srv := newFaultServer(t, tt.faults...)
			client, _ := newClient(t, fast(tt.opts...)...)
			req := newRequest(t, tt.method, srv.URL, strings.NewReader("body"))
			if tt.header != "" {
				req.Header.Set(tt.header, "k1")
			}
			_, _, _ = do(t, client, req)
			assert.Equal(t, tt.requests, srv.requests())
		})
	}
}

func TestTransportEmptyMethodIsGet(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503}, fault{status: 503})
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	inner := &http.Transport{}
	t.Cleanup(inner.CloseIdleConnections)
	var ev events
	rt := safecall.NewTransport(inner, fast(safecall.WithOnRetry(ev.add))...)
	resp, err := rt.RoundTrip((&http.Request{URL: u, Header: http.Header{}}).WithContext(t.Context()))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 3, srv.requests(), "idempotent: retried")
	require.Len(t, ev.ev, 2)
	assert.Equal(t, "GET "+u.Host, ev.ev[0].Op)
}

func TestTransportPostRetriedWhenRefused(t *testing.T) {
	noLeak(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	client, inner := newClient(t, fast()...)
	_, _, err = do(t, client, newRequest(t, http.MethodPost, "http://"+addr, strings.NewReader("sms")))
	assert.Equal(t, safecall.Network, safecall.ClassOf(err))
	assert.Equal(t, 4, inner.roundTrips(), "refused: nothing was sent, so even a POST is retried")
}

func TestTransportBreakerPerHost(t *testing.T) {
	noLeak(t)
	down := newFaultServer(t, fault{status: 503}, fault{status: 503}, fault{status: 503}, fault{status: 503})
	up := newFaultServer(t)
	breakers := breaker.NewRegistry[string](breaker.Settings{})
	client, _ := newClient(t, fast(safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
		return breakers.Get(r.URL.Host)
	}))...)

	_, _, err := do(t, client, newRequest(t, http.MethodGet, down.URL, nil))
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.CircuitOpen, e.Class, "the third failure opened the host's breaker")
	assert.Equal(t, 3, e.Attempts)
	assert.Equal(t, 3, down.requests())

	_, _, err = do(t, client, newRequest(t, http.MethodGet, down.URL, nil))
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.CircuitOpen, e.Class)
	assert.Equal(t, 0, e.Attempts)
	assert.Equal(t, 3, down.requests(), "an open breaker sends nothing")

	status, _, err := do(t, client, newRequest(t, http.MethodGet, up.URL, nil))
	require.NoError(t, err, "another host has its own breaker")
	assert.Equal(t, 200, status)
	assert.Equal(t, breaker.Open, breakers.Get(strings.TrimPrefix(down.URL, "http://")).State())
	assert.Equal(t, breaker.Closed, breakers.Get(strings.TrimPrefix(up.URL, "http://")).State())
}

func TestTransportRateLimitKeepsTenantBreakerClosed(t *testing.T) {
	noLeak(t)
	busy := fault{status: 429, retryAfter: "2"}
	srv := newFaultServer(t, busy, busy, busy, busy, busy, busy)
	breakers := breaker.NewRegistry[string](breaker.Settings{})
	client, _ := newClient(t, fast(safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
		return breakers.Get(r.Header.Get("X-Org"))
	}))...)
	req := newRequest(t, http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Org", "clinic-7")
	_, _, err := do(t, client, req)
	assert.Equal(t, safecall.RateLimit, safecall.ClassOf(err), "busy, not unavailable")
	assert.Equal(t, 4, srv.requests())
	status, _, err := do(t, client, req.Clone(t.Context()))
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.Equal(t, breaker.Closed, breakers.Get("clinic-7").State())
}

func TestTransportCanceledDuringWait(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503, retryAfter: "30"})
	ctx, cancel := context.WithCancel(t.Context())
	client, _ := newClient(t, safecall.WithMaxWait(time.Minute), safecall.WithOnRetry(func(ev safecall.RetryEvent) {
		assert.Equal(t, 30*time.Second, ev.Wait)
		time.AfterFunc(10*time.Millisecond, cancel)
	}))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	start := time.Now()
	_, _, err = do(t, client, req)
	assert.Less(t, time.Since(start), 10*time.Second, "the wait ends with the context")
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Canceled, e.Class)
	assert.Equal(t, 1, e.Attempts)
	assert.ErrorIs(t, err, context.Canceled)
	var se *safecall.StatusError
	require.ErrorAs(t, err, &se, "the last answer is still there")
	assert.Equal(t, 503, se.StatusCode)
	assert.Equal(t, 1, srv.requests())
}

func TestTransportWaitPastDeadline(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503, retryAfter: "30"})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	client, _ := newClient(t, safecall.WithMaxWait(time.Minute))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, _, err = do(t, client, req)
	assert.Equal(t, safecall.Temporary, safecall.ClassOf(err), "the 30s wait would cross the deadline: fail at once")
	assert.NoError(t, ctx.Err())
	assert.Equal(t, 1, srv.requests())
}

func TestTransportAttemptTimeout(t *testing.T) {
	t.Run("a hung attempt is temporary whatever the classifier says", func(t *testing.T) {
		noLeak(t)
		srv := newFaultServer(t, fault{hang: true})
		var ev events
		client, _ := newClient(t, fast(safecall.WithAttemptTimeout(20*time.Millisecond), safecall.WithOnRetry(ev.add),
			safecall.WithClassifier(func(error) safecall.Class { return safecall.Permanent }))...)
		status, body, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
		require.NoError(t, err)
		assert.Equal(t, 200, status)
		assert.Equal(t, "OK", body)
		assert.Equal(t, []safecall.Class{safecall.Temporary}, ev.classes())
		require.Len(t, ev.ev, 1)
		assert.ErrorIs(t, ev.ev[0].Err, context.DeadlineExceeded)
		assert.ErrorContains(t, ev.ev[0].Err, "attempt timed out after 20ms")
	})
	t.Run("the body is read after RoundTrip returns", func(t *testing.T) {
		noLeak(t)
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first half, ")
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			_, _ = io.WriteString(w, "second half")
		}))
		client, _ := newClient(t, safecall.WithAttemptTimeout(5*time.Second))
		_, body, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
		require.NoError(t, err)
		assert.Equal(t, "first half, second half", body)
	})
	t.Run("and bounded by the attempt's time", func(t *testing.T) {
		noLeak(t)
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first half, ")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		client, _ := newClient(t, safecall.WithAttemptTimeout(30*time.Millisecond))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestTransportClosesUnsentBody(t *testing.T) {
	srv := newFaultServer(t)
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 1})
	done, err := b.Allow()
	require.NoError(t, err)
	done(assert.AnError)
	require.Equal(t, breaker.Open, b.State())

	rt := safecall.NewTransport(nil, safecall.WithBreaker(b))
	body := &onceReader{Reader: strings.NewReader("sms")}
	req := newRequest(t, http.MethodPost, srv.URL, body)
	resp, err := rt.RoundTrip(req)
	assert.Nil(t, resp)
	assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
	assert.Equal(t, int32(1), body.closed.Load(), "RoundTrip closes the body it never sent")
	assert.Equal(t, 0, srv.requests())
}

func TestTransportUpgradeOutlivesAttemptTimeout(t *testing.T) {
	noLeak(t)
	// An echo server reached through a protocol upgrade.
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_, _ = io.Copy(conn, brw)
	}))
	inner := &http.Transport{}
	t.Cleanup(inner.CloseIdleConnections)
	client := &http.Client{Transport: safecall.NewTransport(inner, safecall.WithAttemptTimeout(20*time.Millisecond))}
	req := newRequest(t, http.MethodGet, srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	conn, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "the upgraded connection is the caller's to write")
	time.Sleep(40 * time.Millisecond) // past the attempt's time
	_, err = io.WriteString(conn, "ping")
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(conn, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))
}

func TestTransportLastBreakerOptionWins(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t)
	open := breaker.New(breaker.Settings{ConsecutiveFailures: 1})
	done, err := open.Allow()
	require.NoError(t, err)
	done(assert.AnError)
	picked := 0
	perRequest := safecall.WithBreakerFor(func(*http.Request) safecall.Breaker {
		picked++
		return nil // no breaker for this request
	})

	client, _ := newClient(t, safecall.WithBreaker(open), perRequest)
	_, _, err = do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
	require.NoError(t, err, "WithBreakerFor replaced the open breaker")
	assert.Equal(t, 1, picked)

	client, _ = newClient(t, perRequest, safecall.WithBreaker(open))
	_, _, err = do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
	assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err), "WithBreaker replaced WithBreakerFor")
	assert.Equal(t, 1, picked)
	assert.Equal(t, 1, srv.requests())
}
