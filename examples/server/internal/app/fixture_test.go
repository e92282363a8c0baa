package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/internal/testenv"
	"github.com/voxanne/resilience/safecall"
)

var testSecret = []byte("test-secret-of-sufficient-length-0123456789")

// server is one App running for a test, with its sandbox and its log.
type server struct {
	t   *testing.T
	app *app.App
	sb  *sandbox.Sandbox
	url string
	log *testenv.Buffer
	// stop ends Run and waits for it; stopped is its result.
	stop func() error
}

// fastCalls make vendor retries take milliseconds.
var fastCalls = []safecall.Option{
	safecall.WithBackoff(time.Millisecond, 2*time.Millisecond), safecall.WithMaxWait(5 * time.Millisecond), safecall.WithJitter(0),
}

// testConfig is a development server on a free loopback port with a SQLite
// file of the test's own, a sandbox whose texts move on every 10ms, and
// fast retries.
func testConfig(t *testing.T) app.Config {
	return app.Config{
		Addr:           "127.0.0.1:0",
		DatabaseURL:    store.SQLiteDSN(filepath.Join(t.TempDir(), "server.db")),
		JWTSecret:      testSecret,
		Dev:            true,
		SandboxOptions: sandbox.Options{SMSStep: 10 * time.Millisecond},
		CallOptions:    fastCalls,
		OutboxInterval: 20 * time.Millisecond,
	}
}

// start runs an App made from testConfig changed by opts, until the test
// ends.
func start(t *testing.T, opts ...func(*app.Config)) *server {
	t.Helper()
	cfg := testConfig(t)
	for _, o := range opts {
		o(&cfg)
	}
	return run(t, cfg)
}

func run(t *testing.T, cfg app.Config) *server {
	t.Helper()
	log := &testenv.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(t.Context(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			// Connections the client opened but never used would hold
			// the shutdown for 5s (net/http's grace for new connections).
			http.DefaultClient.CloseIdleConnections()
			begin := time.Now()
			cancel()
			result = <-done
			if d := time.Since(begin); d > time.Second {
				t.Logf("stopping took %v", d)
			}
		})
		return result
	}
	t.Cleanup(func() {
		require.NoError(t, stop())
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	s := &server{t: t, app: a, sb: a.Sandbox(), url: a.URL(), log: log, stop: stop}
	s.waitReady()
	return s
}

func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url + "/livez")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.t.Fatal("server did not start")
}

// token mints a token signed with testSecret, with the real clock: a clinic
// user (role "authenticated") or, with role "staff", an operator. extra
// claims are added.
func token(t testing.TB, sub, role string, extra ...jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "email": sub + "@example.com", "role": role, "aud": "authenticated",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for _, e := range extra {
		for k, v := range e {
			claims[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	require.NoError(t, err)
	return s
}

// response is an answer: its status, headers, raw body and decoded JSON.
type response struct {
	status int
	header http.Header
	raw    string
	json   map[string]any
}

func (r response) str(key string) string {
	v, _ := r.json[key].(string)
	return v
}

// call sends a request; body is JSON text or "". hdr alternates names and
// values.
func (s *server) call(method, path, tok, body string, hdr ...string) response {
	s.t.Helper()
	return call(s.t, http.DefaultClient, method, s.url+path, tok, body, hdr...)
}

func call(t testing.TB, c *http.Client, method, url, tok, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] == '{' {
		require.NoError(t, json.Unmarshal(b, &out.json), string(raw))
	}
	return out
}

// clinic is a signed-up clinic: a user's token and its organisation.
type clinic struct {
	token, org, phone string
}

// signUp signs a clinic up the way its staff would: the first request
// (saving its profile) provisions its organisation.
func (s *server) signUp(user, phone string) clinic {
	s.t.Helper()
	tok := token(s.t, user, "authenticated")
	r := s.call("PUT", "/api/clinic", tok, `{"name":"Clinic `+user+`","phone":"`+phone+`","timeZone":"UTC"}`)
	require.Equal(s.t, http.StatusOK, r.status, r.raw)
	return clinic{token: tok, org: r.str("orgId"), phone: phone}
}

// link links the clinic's calendar through the consent page, as a browser
// does: GET /api/calendar/link, the sandbox's consent page, the callback.
func (s *server) link(c clinic) response {
	s.t.Helper()
	r := s.call("GET", "/api/calendar/link", c.token, "")
	require.Equal(s.t, http.StatusOK, r.status, r.raw)
	require.Equal(s.t, "linked", r.str("status"), r.raw)
	return r
}

// onboard signs a clinic up and links its calendar.
func (s *server) onboard(user, phone string) clinic {
	s.t.Helper()
	c := s.signUp(user, phone)
	s.link(c)
	return c
}

// book books an appointment at start for the clinic.
func (s *server) book(c clinic, key string, start time.Time, patient, phone string) response {
	s.t.Helper()
	body := `{"start":"` + start.UTC().Format(time.RFC3339) + `","patient":"` + patient + `"`
	if phone != "" {
		body += `,"phone":"` + phone + `"`
	}
	return s.call("POST", "/api/appointments", c.token, body+"}", "Idempotency-Key", key)
}

// slot is the start of the n-th half hour from tomorrow 09:00 UTC.
func slot(n int) time.Time {
	d := time.Now().UTC().Add(24 * time.Hour)
	return time.Date(d.Year(), d.Month(), d.Day(), 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * 30 * time.Minute)
}

// eventually polls cond every 5ms for up to 5s.
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out: " + msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// breakCalendar gives the clinic a calendar outage and opens its breaker
// with a booking that fails.
func (s *server) breakCalendar(c clinic) {
	s.t.Helper()
	require.NoError(s.t, s.sb.Script(c.org, sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage}))
	r := s.book(c, "outage-"+testenv.Random(4), slot(40), "Ada", "")
	require.Equal(s.t, http.StatusServiceUnavailable, r.status, r.raw)
}

// texts returns the bodies of the texts the sandbox accepted for to.
func (s *server) texts(to string) []string { return s.sb.Texts(to) }

// clock is a settable clock for breakers and health.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// freePort returns a listener on a free loopback port.
func freePort(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

type (
	gcalEvent = calendar.Event
	gcalTime  = calendar.EventDateTime
)
