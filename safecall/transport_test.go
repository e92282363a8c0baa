package safecall_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

// countingTransport is a real http.Transport that records what becomes of
// the body of each response it hands out.
type countingTransport struct {
	http.Transport
	mu        sync.Mutex
	trips     int
	bodies    []*countingBody
	idleClose atomic.Int32
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.mu.Lock()
	ct.trips++
	ct.mu.Unlock()
	resp, err := ct.Transport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &countingBody{rc: resp.Body}
	resp.Body = b
	ct.mu.Lock()
	ct.bodies = append(ct.bodies, b)
	ct.mu.Unlock()
	return resp, nil
}

func (ct *countingTransport) CloseIdleConnections() {
	ct.idleClose.Add(1)
	ct.Transport.CloseIdleConnections()
}

func (ct *countingTransport) roundTrips() int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.trips
}

func (ct *countingTransport) responses() []*countingBody {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return append([]*countingBody(nil), ct.bodies...)
}

// countingBody counts the bytes read from a response body and its closes.
type countingBody struct {
	rc     io.ReadCloser
	read   atomic.Int64
	closed atomic.Int32
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error {
	b.closed.Add(1)
	return b.rc.Close()
}

// newClient returns an http.Client over NewTransport over a countingTransport.
func newClient(t *testing.T, opts ...safecall.Option) (*http.Client, *countingTransport) {
	t.Helper()
	inner := &countingTransport{}
	t.Cleanup(inner.Transport.CloseIdleConnections)
	return &http.Client{Transport: safecall.NewTransport(inner, opts...)}, inner
}

// do sends a request and returns the status and body of the answer.
func do(t *testing.T, c *http.Client, req *http.Request) (int, string, error) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		assert.Nil(t, resp, "no response with an error")
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), nil
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	require.NoError(t, err)
	return req
}

func TestTransportStatusFamilies(t *testing.T) {
	f := func(status int) fault { return fault{status: status} }
	tests := []struct {
		name     string
		faults   []fault
		status   int            // of the answer, when there is no error
		class    safecall.Class // of the error, when there is one
		requests int
		classes  []safecall.Class // of the retried failures
	}{
		{name: "200", status: 200, requests: 1},
		{name: "201 with a body", faults: []fault{{status: 201, body: "created"}}, status: 201, requests: 1},
		{name: "204", faults: []fault{f(204)}, status: 204, requests: 1},
		{name: "304 is an answer", faults: []fault{f(304)}, status: 304, requests: 1},
		{name: "400", faults: []fault{f(400)}, class: safecall.Permanent, requests: 1},
		{name: "404", faults: []fault{f(404)}, class: safecall.Permanent, requests: 1},
		{name: "422", faults: []fault{f(422)}, class: safecall.Permanent, requests: 1},
		{name: "401 without refresh", faults: []fault{f(401)}, class: safecall.Auth, requests: 1},
		{name: "403", faults: []fault{f(403)}, class: safecall.Auth, requests: 1},
		{name: "408 retried", faults: []fault{f(408)}, status: 200, requests: 2, classes: []safecall.Class{safecall.Temporary}},
		{name: "429 retried", faults: []fault{{status: 429, retryAfter: "1"}}, status: 200, requests: 2, classes: []safecall.Class{safecall.RateLimit}},
		{
			name: "502 503 504 retried", faults: []fault{f(502), f(503), f(504)}, status: 200, requests: 4,
			classes: []safecall.Class{safecall.Temporary, safecall.Temporary, safecall.Temporary},
		},
		{
			name: "500 throughout", faults: []fault{f(500), f(500), f(500), f(500)}, class: safecall.Temporary, requests: 4,
			classes: []safecall.Class{safecall.Temporary, safecall.Temporary, safecall.Temporary},
		},
		{name: "501 not retried", faults: []fault{f(501)}, class: safecall.Permanent, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			srv := newFaultServer(t, tt.faults...)
			var ev events
			client, _ := newClient(t, fast(safecall.WithOnRetry(ev.add))...)
			status, body, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
			assert.Equal(t, tt.requests, srv.requests(), "requests received")
			assert.Equal(t, tt.classes, ev.classes())
			if tt.class == safecall.Unknown {
				require.NoError(t, err)
				assert.Equal(t, tt.status, status)
				if status != 204 && status != 304 {
					want := http.StatusText(status)
					if len(tt.faults) > 0 && tt.faults[len(tt.faults)-1].body != "" {
						want = tt.faults[len(tt.faults)-1].body
					}
					assert.Equal(t, want, body)
				}
				return
			}
			var e *safecall.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, tt.requests, e.Attempts)
			var se *safecall.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.faults[len(tt.faults)-1].status, se.StatusCode)
			assert.Equal(t, http.StatusText(se.StatusCode), se.Body)
			assert.Equal(t, tt.class, safecall.ClassOf(err))
		})
	}
}

func TestTransportFollowsRedirects(t *testing.T) {
	noLeak(t)
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusFound))
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "moved") })
	srv := newServer(t, mux)
	client, inner := newClient(t, fast()...)
	resp, err := client.Get(srv.URL + "/old")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "moved", string(body))
	assert.Equal(t, "/new", resp.Request.URL.Path)
	assert.Equal(t, 2, inner.roundTrips(), "the 302 reached http.Client, which followed it")
}

func TestTransportGivesUpWithAnError(t *testing.T) {
	noLeak(t)
	secret := fault{status: 503, body: `{"error":"upstream timeout","api_key":"sk_live_51Habc123XYZdef456"}`}
	srv := newFaultServer(t, secret, secret, secret, secret)
	client, inner := newClient(t, fast()...)
	resp, err := client.Do(newRequest(t, http.MethodGet, srv.URL+"/v1/slots?token=abc#top", nil))
	require.Error(t, err)
	assert.Nil(t, resp, "no response: the last 503 is in the error")

	var ue *url.Error
	require.ErrorAs(t, err, &ue, "http.Client's wrapping")
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Temporary, e.Class)
	assert.Equal(t, 4, e.Attempts)
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.Equal(t, "GET "+host, e.Op)
	var se *safecall.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, safecall.StatusError{
		StatusCode: 503, Method: "GET", URL: srv.URL + "/v1/slots",
		Body: `{"error":"upstream timeout","api_key":"[redacted]"}`,
	}, *se)
	assert.Equal(t, `safecall: GET `+host+`: temporary after 4 attempts: HTTP 503 Service Unavailable: {"error":"upstream timeout","api_key":"[redacted]"}`, e.Error())
	assert.Equal(t, safecall.DefaultUserMessage(safecall.Temporary), safecall.UserMessage(err))

	assert.Equal(t, 4, srv.requests())
	for i, b := range inner.responses() {
		assert.Equal(t, int64(len(secret.body)), b.read.Load(), "answer %d drained", i)
		assert.Equal(t, int32(1), b.closed.Load(), "answer %d closed", i)
	}
	assert.Equal(t, 1, srv.connections(), "drained answers keep the connection")
}

func TestTransportDrainsRetriedAnswers(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t,
		fault{status: 503, body: strings.Repeat("a", 1000)},
		fault{status: 502, body: strings.Repeat("b", 10000)},
		fault{status: 200, body: "booked"})
	client, inner := newClient(t, fast()...)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	bodies := inner.responses()
	require.Len(t, bodies, 3)
	assert.Equal(t, int64(1000), bodies[0].read.Load(), "a short body is read to its end")
	assert.Equal(t, int64(4096), bodies[1].read.Load(), "a long one up to 4 KiB")
	for i, b := range bodies[:2] {
		assert.Equal(t, int32(1), b.closed.Load(), "retried answer %d closed", i)
	}
	assert.Zero(t, bodies[2].read.Load(), "the answer is the caller's to read")
	assert.Zero(t, bodies[2].closed.Load())
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "booked", string(body))
	assert.Equal(t, int32(1), bodies[2].closed.Load())
	assert.Equal(t, 2, srv.connections(), "the connection of the undrained answer is closed")
}

func TestTransportReplaysBody(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503}, fault{status: 500})
	client, _ := newClient(t, fast()...)
	req := newRequest(t, http.MethodPost, srv.URL, strings.NewReader(`{"slot":"09:30"}`))
	req.Header.Set("Idempotency-Key", "booking-42")
	status, _, err := do(t, client, req)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.Equal(t, []string{`{"slot":"09:30"}`, `{"slot":"09:30"}`, `{"slot":"09:30"}`}, srv.received())
}

// onceReader is a request body that http.NewRequest cannot replay.
type onceReader struct {
	io.Reader
	closed atomic.Int32
}

func (r *onceReader) Close() error {
	r.closed.Add(1)
	return nil
}

func TestTransportSendsUnreplayableBodyOnce(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503}, fault{status: 401})
	refreshes := 0
	client, _ := newClient(t, fast(safecall.WithTokenRefresh(func(context.Context) error {
		refreshes++
		return nil
	}))...)
	body := &onceReader{Reader: strings.NewReader("stream")}
	req := newRequest(t, http.MethodPut, srv.URL, body)
	require.Nil(t, req.GetBody)
	_, _, err := do(t, client, req)
	var e *safecall.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, safecall.Temporary, e.Class)
	assert.Equal(t, 1, e.Attempts)
	assert.Equal(t, []string{"stream"}, srv.received())

	// Not even after a token refresh.
	req = newRequest(t, http.MethodPut, srv.URL, &onceReader{Reader: strings.NewReader("stream")})
	_, _, err = do(t, client, req)
	assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
	assert.Zero(t, refreshes)
	assert.Equal(t, 2, srv.requests())
}

func TestTransportBodyReplayFails(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t, fault{status: 503})
	client, _ := newClient(t, fast()...)
	req := newRequest(t, http.MethodPut, srv.URL, strings.NewReader("x"))
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("spool gone") }
	_, _, err := do(t, client, req)
	assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
	assert.ErrorContains(t, err, "spool gone")
	assert.Equal(t, 1, srv.requests())
}

func TestTransportTokenRefresh(t *testing.T) {
	noLeak(t)
	var token atomic.Value
	token.Store("expired")
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "3 events")
	}))
	// The inner transport adds the credential, as oauth2.Transport does.
	inner := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token.Load().(string))
		return http.DefaultTransport.RoundTrip(r)
	})
	client := &http.Client{Transport: safecall.NewTransport(inner, fast(safecall.WithTokenRefresh(func(context.Context) error {
		token.Store("fresh")
		return nil
	}))...)}
	status, body, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.Equal(t, "3 events", body)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportDefaults(t *testing.T) {
	noLeak(t)
	srv := newFaultServer(t)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	client := &http.Client{Transport: safecall.NewTransport(nil)}
	status, body, err := do(t, client, newRequest(t, http.MethodGet, srv.URL, nil))
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.Equal(t, "OK", body)

	// CloseIdleConnections reaches the inner transport.
	client, inner := newClient(t)
	client.CloseIdleConnections()
	assert.Equal(t, int32(1), inner.idleClose.Load())
}
