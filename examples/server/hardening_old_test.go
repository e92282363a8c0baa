package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 16, written against the server as it was, to see each finding fail.

func TestDevModeRefusesPublicAddress(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("RESILIENCE_JWT_SECRET", "")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	out := &syncBuffer{}
	go func() { errc <- run(ctx, []string{"-addr", "0.0.0.0:0"}, out, ready) }()
	select {
	case addr := <-ready:
		cancel()
		<-errc
		t.Fatalf("dev mode started on %s, reachable from other machines", addr)
	case err := <-errc:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "loopback")
	}
}

func TestDevModeTokenForgedWithSourceSecretIsRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("RESILIENCE_JWT_SECRET", "")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, &syncBuffer{}, ready) }()
	addr := <-ready
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "attacker", "role": "authenticated", "aud": "authenticated",
		"exp":          time.Now().Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"org_id": "victim-clinic"},
	}).SignedString([]byte("resilience-dev-secret-do-not-use-in-production"))
	require.NoError(t, err)
	code, body, _ := do(t, "GET", "http://"+addr+"/api/me", forged, "", "")
	assert.Equal(t, http.StatusUnauthorized, code, body)
	cancel()
	<-errc
}

func TestHealthDetailsOnlyForStaff(t *testing.T) {
	_, ts := newTestServer(t)
	code, body, _ := do(t, "GET", ts.URL+"/api/health/integrations", "", "", "")
	require.Equal(t, http.StatusOK, code)
	for _, i := range body["integrations"].([]any) {
		assert.NotContains(t, i.(map[string]any), "details", "public report")
	}
	staff, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "op-1", "role": "staff", "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(testSecret)
	require.NoError(t, err)
	code, body, _ = do(t, "GET", ts.URL+"/api/health/integrations", staff, "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body["integrations"].([]any)[0].(map[string]any), "details", "staff see details")
}

func TestUnauthenticatedRequestIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	_, ts := newTestServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST /api/appointments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err, "no answer within 1s while the body trickles")
	assert.Contains(t, status, "401")
}

func TestIdempotencyKeyReusedWithAnotherBodyIs422(t *testing.T) {
	_, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)
	code, _, _ := do(t, "POST", ts.URL+"/api/appointments", token, "call-7", `{"start":"2026-12-01T09:00:00Z","patient":"Ada"}`)
	require.Equal(t, http.StatusCreated, code)
	code, body, _ := do(t, "POST", ts.URL+"/api/appointments", token, "call-7", `{"start":"2026-12-02T15:00:00Z","patient":"Grace"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, code, body)
}

func TestBookingBodyIsDecodedStrictly(t *testing.T) {
	_, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)
	for i, b := range []string{
		`{"start":"2026-12-01T09:00:00Z","patient":"Ada"} trailing`,
		`{"start":"2026-12-01T09:00:00Z","patient":"Ada"}{"start":"2026-12-01T10:00:00Z"}`,
		`{"START":"2026-12-01T09:00:00Z","Patient":"Ada"}`,
	} {
		code, body, _ := do(t, "POST", ts.URL+"/api/appointments", token, "strict-"+string(rune('a'+i)), b)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %v", b, body)
	}
}

func TestRetryAfterHeaderIsClamped(t *testing.T) {
	_, ts := newTestServer(t)
	token, err := devToken(testSecret, time.Now())
	require.NoError(t, err)
	code, _, _ := do(t, "POST", ts.URL+"/api/dev/faults", "", "", `{"count":100,"status":429,"retryAfterSeconds":9223372036}`)
	require.Equal(t, http.StatusAccepted, code)
	code, body, hdr := do(t, "POST", ts.URL+"/api/appointments", token, "ra", `{"start":"2026-12-01T09:00:00Z","patient":"Ada"}`)
	require.GreaterOrEqual(t, code, 400, body)
	ra := hdr.Get("Retry-After")
	require.NotEmpty(t, ra)
	assert.NotContains(t, ra, "-", "Retry-After %q", ra)
	assert.LessOrEqual(t, len(ra), 4, "Retry-After %q: at most an hour", ra)
}
