package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

var testSecret = []byte("test-secret-of-sufficient-length-0123456789")

func newTestServer(t *testing.T) (*server, *httptest.Server) {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	srv, err := newServer(t.Context(), serverConfig{
		DB: db, JWTSecret: testSecret, Dev: true,
		CallOptions: []safecall.Option{safecall.WithBackoff(time.Millisecond, 2*time.Millisecond), safecall.WithMaxWait(5 * time.Millisecond)},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts
}

func do(t *testing.T, method, url, token, key, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	}
	return resp.StatusCode, m, resp.Header
}

func TestHealthAndProbes(t *testing.T) {
	_, ts := newTestServer(t)
	code, body, _ := do(t, "GET", ts.URL+"/api/health/integrations", "", "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "healthy", body["status"])
	names := []string{}
	for _, i := range body["integrations"].([]any) {
		names = append(names, i.(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{"Database", "Calendar"}, names)
	code, _, _ = do(t, "GET", ts.URL+"/livez", "", "", "")
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = do(t, "GET", ts.URL+"/readyz", "", "", "")
	assert.Equal(t, http.StatusOK, code)
}

func TestNewUserIsProvisionedThenResolved(t *testing.T) {
	_, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)

	code, me, _ := do(t, "GET", ts.URL+"/api/me", token, "", "")
	require.Equal(t, http.StatusOK, code, me)
	assert.Equal(t, "demo-user", me["userId"])
	assert.Equal(t, "provisioned", me["source"])
	org := me["orgId"].(string)
	require.NotEmpty(t, org)

	code, me, _ = do(t, "GET", ts.URL+"/api/me", token, "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, org, me["orgId"], "the same organisation, from the cache")

	code, body, hdr := do(t, "GET", ts.URL+"/api/me", "", "", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.NotEmpty(t, body["error"])
	assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")

	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "demo-user", "role": "authenticated", "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("not-the-secret-not-the-secret-not-the-secret"))
	require.NoError(t, err)
	code, _, _ = do(t, "GET", ts.URL+"/api/me", forged, "", "")
	assert.Equal(t, http.StatusUnauthorized, code)
}

func TestBookingIsIdempotent(t *testing.T) {
	srv, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)
	body := `{"start":"2026-12-01T09:00:00Z","patient":"Ada"}`

	code, first, _ := do(t, "POST", ts.URL+"/api/appointments", token, "call-1", body)
	require.Equal(t, http.StatusCreated, code, first)
	code, again, _ := do(t, "POST", ts.URL+"/api/appointments", token, "call-1", body)
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, first["id"], again["id"], "the same key books once")

	_, me, _ := do(t, "GET", ts.URL+"/api/me", token, "", "")
	assert.Equal(t, 1, srv.calendar.Appointments(me["orgId"].(string)))

	for _, tc := range []struct{ key, body string }{
		{"", body},                       // no idempotency key
		{"k", `{"start":`},               // garbage JSON
		{"k", `{"patient":"Ada"}`},       // no start
		{"k", `{"start":"tomorrow"}`},    // not a time
		{"k", `{"x":1,"patient":"Ada"}`}, // unknown field
	} {
		code, res, _ := do(t, "POST", ts.URL+"/api/appointments", token, tc.key, tc.body)
		assert.Equal(t, http.StatusBadRequest, code, tc.body)
		assert.NotEmpty(t, res["error"])
	}
}

func TestVendorOutageRetriesThenOpensBreaker(t *testing.T) {
	srv, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)
	body := `{"start":"2026-12-01T09:00:00Z","patient":"Ada"}`

	// Two failures, then success: the caller never notices.
	code, _, _ := do(t, "POST", ts.URL+"/api/dev/faults", "", "", `{"count":2,"status":503}`)
	require.Equal(t, http.StatusAccepted, code)
	calls := srv.calendar.Calls()
	code, res, _ := do(t, "POST", ts.URL+"/api/appointments", token, "a", body)
	require.Equal(t, http.StatusCreated, code, res)
	assert.Equal(t, 3, srv.calendar.Calls()-calls, "two retries")

	// A long outage: the retries trip the clinic's breaker (3 failures),
	// and the caller hears a calm sentence, not a stack trace.
	do(t, "POST", ts.URL+"/api/dev/faults", "", "", `{"count":100,"status":503}`)
	calls = srv.calendar.Calls()
	code, res, _ = do(t, "POST", ts.URL+"/api/appointments", token, "b", body)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "circuit-open", res["class"])
	assert.Equal(t, 3, srv.calendar.Calls()-calls, "the breaker stopped the fourth attempt")
	msg := res["message"].(string)
	assert.NotEmpty(t, msg)
	assert.NotContains(t, msg, "503")

	calls = srv.calendar.Calls()
	code, res, hdr := do(t, "POST", ts.URL+"/api/appointments", token, "c", body)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, 0, srv.calendar.Calls()-calls, "an open breaker does not call the vendor")
	assert.NotEmpty(t, hdr.Get("Retry-After"))
	assert.NotEmpty(t, res["retryAfterSeconds"])

	code, report, _ := do(t, "GET", ts.URL+"/api/health/integrations", "", "", "")
	assert.Equal(t, http.StatusOK, code, "a non-critical open breaker degrades, it is not an outage")
	assert.Equal(t, "degraded", report["status"])

	// A permanent vendor error (a bad request) is not retried.
	srv.breakers.Get(mustOrg(t, ts, token)).Reset()
	srv.calendar.mu.Lock()
	srv.calendar.faults = nil
	srv.calendar.mu.Unlock()
	do(t, "POST", ts.URL+"/api/dev/faults", "", "", `{"count":1,"status":400}`)
	calls = srv.calendar.Calls()
	code, res, _ = do(t, "POST", ts.URL+"/api/appointments", token, "d", body)
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Equal(t, "permanent", res["class"])
	assert.Equal(t, 1, srv.calendar.Calls()-calls)
}

func TestFaultsEndpointValidates(t *testing.T) {
	_, ts := newTestServer(t)
	for _, b := range []string{`{`, `{"count":0,"status":503}`, `{"count":1,"status":200}`, `{"count":1,"status":503,"retryAfterSeconds":-1}`} {
		code, _, _ := do(t, "POST", ts.URL+"/api/dev/faults", "", "", b)
		assert.Equal(t, http.StatusBadRequest, code, b)
	}
}

func mustOrg(t *testing.T, ts *httptest.Server, token string) string {
	t.Helper()
	_, me, _ := do(t, "GET", ts.URL+"/api/me", token, "", "")
	return me["orgId"].(string)
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, out, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Get("http://" + addr + "/api/health/integrations")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	require.NoError(t, <-errc)
	assert.Contains(t, out.String(), "Authorization: Bearer ey", "prints a development token")
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
