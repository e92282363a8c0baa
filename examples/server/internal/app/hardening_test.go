package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

// Issue 16: each finding of the attack review that concerns the server,
// named for it. Each failed against the server before this rewrite (see
// the commit that added them to the old server).

func TestDevModeRefusesPublicAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080"} {
		_, err := app.ParseArgs([]string{"-addr", addr}, func(string) string { return "" }, io.Discard)
		require.ErrorIs(t, err, app.ErrPublicDevMode, addr)
		assert.NotContains(t, err.Error(), "\n", "one line")
		assert.Contains(t, err.Error(), "JWT_SECRET", "says how to serve other machines")

		cfg := testConfig(t)
		cfg.Addr = addr
		_, err = app.New(t.Context(), cfg)
		require.ErrorIs(t, err, app.ErrPublicDevMode, "New refuses it too: %s", addr)
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		_, err := app.ParseArgs([]string{"-addr", addr}, func(string) string { return "" }, io.Discard)
		require.NoError(t, err, addr)
	}
	// With a real secret the server may listen anywhere.
	_, err := app.ParseArgs([]string{"-addr", "0.0.0.0:8080", "-sandbox"}, env(map[string]string{"JWT_SECRET": string(testSecret)}), io.Discard)
	require.NoError(t, err)
}

func TestDevModeTokenForgedWithSourceSecretIsRefused(t *testing.T) {
	s := start(t, func(c *app.Config) { c.JWTSecret = nil })
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "attacker", "role": "authenticated", "aud": "authenticated",
		"exp":          time.Now().Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"org_id": "victim-clinic"},
	}).SignedString([]byte("resilience-dev-secret-do-not-use-in-production"))
	require.NoError(t, err)
	r := s.call("GET", "/api/me", forged, "")
	assert.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	assert.Equal(t, "invalid_token", r.str("code"))

	// The server's own development tokens work: the secret is random per run.
	tok, err := s.app.DevToken("demo-user", "demo@example.com", "authenticated", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, s.call("GET", "/api/me", tok, "").status)
}

func TestHealthDetailsOnlyForStaff(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	r := s.call("GET", "/api/health/integrations", "", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.raw, `"details"`, "the public report")
	r = s.call("GET", "/api/health/integrations", c.token, "")
	assert.NotContains(t, r.raw, `"details"`, "a clinic user is not staff")
	r = s.call("GET", "/api/health/integrations", "not-a-token", "")
	assert.NotContains(t, r.raw, `"details"`)

	r = s.call("GET", "/api/health/integrations", token(t, "op", "staff"), "")
	require.Equal(t, http.StatusOK, r.status)
	first := r.json["integrations"].([]any)[0].(map[string]any)
	assert.Contains(t, first, "details", "operators see details")
}

func TestHealthPublicReportNamesNoClinic(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	s.breakCalendar(c)
	r := s.call("GET", "/api/health/integrations", "", "")
	assert.Equal(t, "degraded", r.str("status"))
	assert.NotContains(t, r.raw, c.org, "tenants are in details only")
	assert.Contains(t, s.call("GET", "/api/health/integrations", token(t, "op", "staff"), "").raw, c.org)
}

func TestUnauthenticatedRequestIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	s := start(t)
	for _, path := range []string{"/api/appointments", "/api/sms", "/api/dev/faults"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		require.NoError(t, err)
		_, err = conn.Write([]byte("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"))
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "an answer while the body trickles")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.True(t, resp.Close, "Connection: close")
		_, _ = io.Copy(io.Discard, resp.Body)
		begin := time.Now()
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the connection is closed, not kept to drain the body")
		assert.Less(t, time.Since(begin), 900*time.Millisecond)
		conn.Close()
	}
}

func TestSlowClientIsCutOff(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Timeouts = app.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
	})
	c := s.signUp("ada", "+15550001111")
	addr := strings.TrimPrefix(s.url, "http://")

	// A body trickled at a byte every 50ms: cut off at the read timeout.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST /api/appointments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + c.token +
		"\r\nIdempotency-Key: slow\r\nContent-Length: 1000\r\n\r\n"))
	require.NoError(t, err)
	begin := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(begin)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var took time.Duration
loop:
	for {
		select {
		case took = <-closed:
			break loop
		case <-tick.C:
			_, _ = conn.Write([]byte(" "))
		case <-time.After(3 * time.Second):
			t.Fatal("the trickling connection was still open after 3s")
		}
	}
	assert.Less(t, took, 2*time.Second)

	// Headers that never end: cut off at the header timeout.
	slow, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	_, _ = slow.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n"))
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, err = io.ReadAll(slow)
	require.NoError(t, err, "closed by the server, not by our deadline")

	// An idle kept-alive connection: closed at the idle timeout.
	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, _ = idle.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "closed when idle")

	// Headers beyond MaxHeaderBytes are refused.
	r := s.call("GET", "/livez", "", "", "X-Big", strings.Repeat("a", 64<<10))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.status)
}

func TestIdempotencyKeyReusedWithAnotherBodyIs422(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	first := s.book(c, "call-7", slot(0), "Ada", "+15551234567")
	require.Equal(t, http.StatusCreated, first.status, first.raw)
	again := s.book(c, "call-7", slot(0), "Ada", "+15551234567")
	require.Equal(t, http.StatusOK, again.status, "a retry of the same request")
	assert.Equal(t, first.str("eventId"), again.str("eventId"))

	for _, r := range []response{
		s.book(c, "call-7", slot(4), "Grace", ""),
		s.book(c, "call-7", slot(0), "Ada", "+15559876543"),
		s.call("POST", "/api/appointments", c.token, `{"start":"`+slot(0).Format(time.RFC3339)+`","patient":"Ada","phone":"+15551234567","minutes":45}`, "Idempotency-Key", "call-7"),
	} {
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
		assert.Equal(t, "idempotency_key_reused", r.str("code"))
	}
	assert.Len(t, s.sb.Calendar.Events(sandbox.Account(c.org)), 1, "one event")
	assert.Len(t, s.texts("+15551234567"), 1, "one text")

	// The same holds for texts on their own.
	r := s.call("POST", "/api/sms", c.token, `{"to":"+15551234567","body":"hello"}`, "Idempotency-Key", "t1")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	r = s.call("POST", "/api/sms", c.token, `{"to":"+15551234567","body":"goodbye"}`, "Idempotency-Key", "t1")
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
}

func TestBookingBodyIsDecodedStrictly(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	start := slot(0).Format(time.RFC3339)
	for _, tc := range []struct{ body, code, field string }{
		{`{"start":"` + start + `","patient":"Ada"} trailing`, "bad_request", ""},
		{`{"start":"` + start + `","patient":"Ada"}{"start":"` + start + `"}`, "bad_request", ""},
		{`{"START":"` + start + `","patient":"Ada"}`, "unknown_field", "START"},
		{`{"start":"` + start + `","Patient":"Ada"}`, "unknown_field", "Patient"},
		{`{"start":"` + start + `","patient":"Ada","patient":"Eve"}`, "duplicate_field", "patient"},
		{`{"start":"` + start + `","patient":"Ada","x":1}`, "unknown_field", "x"},
		{`{"start":"tomorrow","patient":"Ada"}`, "invalid_field", "start"},
		{`{"start":"2001-01-01T09:00:00Z","patient":"Ada"}`, "invalid_field", "start"},
		{`{"start":"` + start + `"}`, "invalid_field", "patient"},
		{`{"start":"` + start + `","patient":"Ada","minutes":"30"}`, "invalid_field", "minutes"},
		{`{"start":"` + start + `","patient":"Ada","minutes":1000}`, "invalid_field", "minutes"},
		{`{"start":"` + start + `","patient":"Ada","phone":"555-1234"}`, "invalid_field", "phone"},
		{`["start"]`, "bad_request", ""},
		{`{"start":`, "bad_request", ""},
		{``, "bad_request", ""},
	} {
		r := s.call("POST", "/api/appointments", c.token, tc.body, "Idempotency-Key", "strict")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", tc.body, r.raw)
		assert.Equal(t, tc.code, r.str("code"), tc.body)
		assert.Equal(t, tc.field, r.str("field"), tc.body)
		assert.NotEmpty(t, r.str("message"))
		assert.NotEmpty(t, r.str("requestId"))
		if tc.field != "" && tc.code != "invalid_field" {
			assert.Contains(t, r.str("message"), tc.field, "the message names the field")
		}
	}
	big := `{"start":"` + start + `","patient":"` + strings.Repeat("a", app.MaxBodyBytes) + `"}`
	r := s.call("POST", "/api/appointments", c.token, big, "Idempotency-Key", "big")
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	assert.Equal(t, "body_too_large", r.str("code"))
	assert.Empty(t, s.sb.Calendar.Events(sandbox.Account(c.org)), "nothing was booked")
}

func TestRetryAfterHeaderIsClamped(t *testing.T) {
	s := start(t)
	c := s.onboard("ada", "+15550001111")
	s.sb.Calendar.Fail(gcaltest.Fault{Status: 429, RetryAfter: "9223372036", Times: -1, Account: sandbox.Account(c.org)})
	r := s.book(c, "ra", slot(0), "Ada", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	assert.Equal(t, "3600", r.header.Get("Retry-After"), "at most an hour, never negative")
	assert.Equal(t, float64(3600), r.json["retryAfterSeconds"])
}

func TestDefaultDatabaseCarriesBusyTimeout(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := app.ParseArgs([]string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.DatabaseURL, "the default: resilience.db here")
	cfg.JWTSecret, cfg.CallOptions = testSecret, fastCalls
	s := run(t, cfg)
	var wg sync.WaitGroup
	codes := make([]int, 100)
	for i := range codes {
		wg.Go(func() {
			tok := token(t, "user-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "authenticated")
			codes[i] = call(t, http.DefaultClient, "PUT", s.url+"/api/clinic", tok, `{"name":"C","phone":"+15550001111"}`).status
		})
	}
	wg.Wait()
	for i, c := range codes {
		assert.Equal(t, http.StatusOK, c, "signup %d", i)
	}
	// A SQLite DSN without busy_timeout is refused with the setting named.
	cfg = testConfig(t)
	cfg.DatabaseURL = "file:x.db?_pragma=journal_mode(WAL)"
	_, err = app.New(t.Context(), cfg)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "DATABASE_URL: "), err.Error())
	assert.Contains(t, err.Error(), "busy_timeout")
	assert.Equal(t, "file:resilience.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		store.SQLiteDSN("resilience.db"))
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
