package safecall_test

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// fault is one scripted response of faultServer.
type fault struct {
	status     int
	retryAfter string
	reset      bool              // drop the connection with a TCP reset instead of answering
	body       string            // "" means the status text
	header     map[string]string // more response headers
	hang       bool              // answer only when the request's context ends
}

// faultServer answers with the scripted faults in order, then 200 "OK".
// It records the body of each request and counts the connections opened.
type faultServer struct {
	*httptest.Server
	mu     sync.Mutex
	faults []fault
	hits   int
	bodies []string
	conns  int
}

func newFaultServer(t *testing.T, faults ...fault) *faultServer {
	t.Helper()
	fs := &faultServer{faults: faults}
	fs.Server = httptest.NewUnstartedServer(http.HandlerFunc(fs.serve))
	fs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			fs.mu.Lock()
			fs.conns++
			fs.mu.Unlock()
		}
	}
	fs.Start()
	t.Cleanup(fs.Close)
	return fs
}

func (fs *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fs.mu.Lock()
	n := fs.hits
	fs.hits++
	fs.bodies = append(fs.bodies, string(body))
	f := fault{status: http.StatusOK}
	if n < len(fs.faults) {
		f = fs.faults[n]
	}
	fs.mu.Unlock()
	if f.hang {
		<-r.Context().Done()
		return
	}
	if f.reset {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		_ = conn.Close()
		return
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	for k, v := range f.header {
		w.Header().Set(k, v)
	}
	if f.body == "" {
		f.body = http.StatusText(f.status)
	}
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

// newServer starts an httptest server closed when the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func (fs *faultServer) requests() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits
}

// received returns the bodies of the requests received.
func (fs *faultServer) received() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.bodies)
}

// connections returns the number of connections opened to the server.
func (fs *faultServer) connections() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.conns
}

// client returns a function doing one request, counting its calls.
func client(t *testing.T, method, url string, calls *int) func(context.Context) (string, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(c.CloseIdleConnections)
	return func(ctx context.Context) (string, error) {
		*calls++
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return "", err
		}
		if resp.StatusCode >= 400 {
			return "", &statusError{
				code: resp.StatusCode,
				ra:   safecall.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			}
		}
		return string(body), nil
	}
}

// noLeak fails the test if goroutines started during it are still running
// once its other cleanups (servers, clients) have run.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
	})
}

// fast keeps the real waits of HTTP tests to milliseconds.
func fast(more ...safecall.Option) []safecall.Option {
	return append([]safecall.Option{
		safecall.WithBackoff(time.Millisecond, 2*time.Millisecond),
		safecall.WithMaxWait(5 * time.Millisecond),
	}, more...)
}

func TestHTTPFaults(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		method   string
		faults   []fault
		opts     []safecall.Option
		class    safecall.Class // Unknown: success
		attempts int
		classes  []safecall.Class
		waits    []time.Duration
	}{
		{
			name: "429 with retry-after seconds, capped", faults: []fault{{status: 429, retryAfter: "2"}},
			attempts: 2, classes: []safecall.Class{safecall.RateLimit}, waits: []time.Duration{5 * time.Millisecond},
		},
		{
			name: "429 with retry-after date, capped", faults: []fault{{status: 429, retryAfter: future}},
			attempts: 2, classes: []safecall.Class{safecall.RateLimit}, waits: []time.Duration{5 * time.Millisecond},
		},
		{
			name: "503 twice", faults: []fault{{status: 503}, {status: 503}},
			attempts: 3, classes: []safecall.Class{safecall.Temporary, safecall.Temporary},
			waits: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name: "503 throughout", faults: []fault{{status: 503}, {status: 503}, {status: 503}, {status: 503}},
			class: safecall.Temporary, attempts: 4,
			classes: []safecall.Class{safecall.Temporary, safecall.Temporary, safecall.Temporary},
			waits:   []time.Duration{time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond},
		},
		{
			name: "400", faults: []fault{{status: 400}}, class: safecall.Permanent, attempts: 1,
		},
		{
			name: "501", faults: []fault{{status: 501}}, class: safecall.Permanent, attempts: 1,
		},
		{
			name: "401 without refresh", faults: []fault{{status: 401}}, class: safecall.Auth, attempts: 1,
		},
		{
			name: "reset twice", faults: []fault{{reset: true}, {reset: true}},
			attempts: 3, classes: []safecall.Class{safecall.Network, safecall.Network},
			waits: []time.Duration{0, time.Millisecond},
		},
		{
			name: "reset on a write that is not idempotent", method: http.MethodPost,
			faults: []fault{{reset: true}}, opts: []safecall.Option{safecall.WithIdempotent(false)},
			class: safecall.Network, attempts: 1,
		},
		{
			name: "503 on a write that is not idempotent", method: http.MethodPost,
			faults: []fault{{status: 503}}, opts: []safecall.Option{safecall.WithIdempotent(false)},
			class: safecall.Temporary, attempts: 1,
		},
		{
			name: "429 on a write that is not idempotent", method: http.MethodPost,
			faults: []fault{{status: 429, retryAfter: "1"}}, opts: []safecall.Option{safecall.WithIdempotent(false)},
			attempts: 2, classes: []safecall.Class{safecall.RateLimit}, waits: []time.Duration{5 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			srv := newFaultServer(t, tt.faults...)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			calls := 0
			var ev events
			opts := append(fast(safecall.WithOnRetry(ev.add), safecall.WithJitter(0)), tt.opts...)
			v, err := safecall.Call(t.Context(), "http", client(t, method, srv.URL, &calls), opts...)
			assert.Equal(t, tt.attempts, calls, "attempts")
			assert.Equal(t, tt.attempts, srv.requests(), "requests received")
			assert.Equal(t, tt.classes, ev.classes())
			assert.Equal(t, tt.waits, ev.waits())
			if tt.class == safecall.Unknown {
				require.NoError(t, err)
				assert.Equal(t, "OK", v)
				return
			}
			var e *safecall.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, tt.attempts, e.Attempts)
		})
	}
}

func TestHTTPFinalRetryAfter(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 429, retryAfter: "120"}, fault{status: 429, retryAfter: "120"})
	calls := 0
	_, err := safecall.Call(t.Context(), "http", client(t, http.MethodGet, srv.URL, &calls),
		fast(safecall.WithRetries(1))...)
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.RateLimit, e.Class)
	assert.Equal(t, 2, e.Attempts)
	assert.Equal(t, 120*time.Second, e.RetryAfter, "the server's hint, not the capped wait")
	var se *statusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 429, se.code)

	// The HTTP-date form of the header, an hour ahead.
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	srv = newFaultServer(t, fault{status: 429, retryAfter: future})
	_, err = safecall.Call(t.Context(), "http", client(t, http.MethodGet, srv.URL, &calls), fast(safecall.WithRetries(0))...)
	require.ErrorAs(t, err, &e)
	assert.InDelta(t, float64(time.Hour), float64(e.RetryAfter), float64(2*time.Second))
}

func TestHTTPConnectionRefused(t *testing.T) {
	noLeak(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	calls := 0
	var ev events
	_, err = safecall.Call(t.Context(), "sms.send", client(t, http.MethodPost, url, &calls),
		fast(safecall.WithIdempotent(false), safecall.WithOnRetry(ev.add), safecall.WithJitter(0))...)
	assert.Equal(t, 4, calls, "refused: nothing was sent, so even a write is retried")
	assert.Equal(t, []time.Duration{0, time.Millisecond, 2 * time.Millisecond}, ev.waits())
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Network, e.Class)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestHTTPBreaker(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503}, fault{status: 503}, fault{status: 503}, fault{status: 503})
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 3, Cooldown: 30 * time.Second})
	calls := 0
	fn := client(t, http.MethodGet, srv.URL, &calls)

	_, err := safecall.Call(t.Context(), "http", fn, fast(safecall.WithBreaker(b))...)
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.CircuitOpen, e.Class)
	assert.Equal(t, 3, e.Attempts)
	assert.Equal(t, 3, srv.requests())
	assert.Equal(t, breaker.Open, b.State())
	assert.InDelta(t, float64(30*time.Second), float64(e.RetryAfter), float64(time.Second))

	_, err = safecall.Call(t.Context(), "http", fn, fast(safecall.WithBreaker(b))...)
	assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
	assert.Equal(t, 3, srv.requests(), "an open circuit sends nothing")
}

func TestHTTPBadRequestsDoNotTripBreaker(t *testing.T) {
	noLeak(t)
	faults := make([]fault, 10)
	for i := range faults {
		faults[i] = fault{status: 400}
	}
	srv := newFaultServer(t, faults...)
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 3})
	calls := 0
	fn := client(t, http.MethodPost, srv.URL, &calls)
	for range 10 {
		_, err := safecall.Call(t.Context(), "sms.send", fn, fast(safecall.WithBreaker(b))...)
		require.Equal(t, safecall.Permanent, safecall.ClassOf(err))
	}
	assert.Equal(t, 10, srv.requests())
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures)

	v, err := safecall.Call(t.Context(), "sms.send", fn, safecall.WithBreaker(b))
	require.NoError(t, err)
	assert.Equal(t, "OK", v)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"07", 7 * time.Second},
		{" 007", 7 * time.Second},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"+3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"9223372036", 9223372036 * time.Second},
		{"9223372037", math.MaxInt64},
		{"9999999999", math.MaxInt64},
		{"99999999999999999999999", math.MaxInt64},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(time.RFC850), time.Hour},
		{now.Add(time.Hour).Format(time.ANSIC), time.Hour},
		{now.Add(time.Hour).Format(time.RFC3339), 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, safecall.ParseRetryAfter(tt.h, now), "Retry-After %q", tt.h)
	}
}

func TestHTTPTLSHandshakeTimeout(t *testing.T) {
	noLeak(t)
	// A server that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	release := make(chan struct{})
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				<-release
				_ = c.Close()
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		close(release)
		conns.Wait()
	})

	c := &http.Client{Transport: &http.Transport{TLSHandshakeTimeout: 5 * time.Millisecond, DisableKeepAlives: true}}
	attempts := 0
	var ev events
	_, err = safecall.Call(t.Context(), "https", func(ctx context.Context) (string, error) {
		attempts++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+ln.Addr().String(), nil)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		_ = resp.Body.Close()
		return "", nil
	}, fast(safecall.WithRetries(1), safecall.WithOnRetry(ev.add))...)
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Network, e.Class)
	assert.Equal(t, 2, attempts)
	assert.Equal(t, []time.Duration{0}, ev.waits(), "network: retried at once")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
}
