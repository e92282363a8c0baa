package twilioguard_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clinic  = "+15005550006"
	patient = "+15551234567"
	body    = "Your appointment is confirmed for Tuesday 10:00."
)

// env is a Guard wired to a fresh fake Twilio, recording its audit
// entries and logs.
type env struct {
	t     *testing.T
	fake  *twiliotest.Server
	guard *twilioguard.Guard
	store *twilioguard.MemoryStore
	audit *auditLog
	logs  *syncBuffer
	cfg   twilioguard.Config
}

// fastRetries keeps retry waits to milliseconds, Retry-After included.
var fastRetries = twilioguard.WithCallOptions(
	safecall.WithBackoff(time.Millisecond, 4*time.Millisecond),
	safecall.WithJitter(0),
	safecall.WithMaxWait(20*time.Millisecond),
)

func newEnv(t *testing.T, opts ...twilioguard.Option) *env {
	t.Helper()
	return newEnvWithFake(t, nil, opts...)
}

// newEnvWithFake is newEnv with options for the fake Twilio.
func newEnvWithFake(t *testing.T, fakeOpts []twiliotest.Option, opts ...twilioguard.Option) *env {
	t.Helper()
	e := &env{t: t, fake: twiliotest.NewServer(fakeOpts...), store: &twilioguard.MemoryStore{}, audit: &auditLog{}, logs: &syncBuffer{}}
	t.Cleanup(e.fake.Close)
	e.cfg = twilioguard.Config{
		AccountSID: e.fake.AccountSID,
		AuthToken:  e.fake.AuthToken,
		From:       clinic,
		BaseURL:    e.fake.URL,
	}
	e.guard = e.newGuard(opts...)
	return e
}

// newGuard returns another Guard on the env's fake, store and audit log,
// as another process of the same service would be.
func (e *env) newGuard(opts ...twilioguard.Option) *twilioguard.Guard {
	e.t.Helper()
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]twilioguard.Option{
		twilioguard.WithStore(e.store),
		twilioguard.WithAudit(e.audit),
		twilioguard.WithLogger(logger),
		fastRetries,
	}, opts...)
	g, err := twilioguard.New(e.cfg, all...)
	require.NoError(e.t, err)
	e.t.Cleanup(g.CloseIdleConnections)
	return g
}

func msg(org, key string) twilioguard.Message {
	return twilioguard.Message{OrgID: org, Key: key, To: patient, Body: body}
}

// creates returns the number of create requests the fake received.
func (e *env) creates() int { return e.fake.Count(twiliotest.Create) }

// requireOneMessage checks that the fake holds exactly one message, the
// delivery's.
func (e *env) requireOneMessage(d twilioguard.Delivery) {
	e.t.Helper()
	msgs := e.fake.Messages()
	require.Len(e.t, msgs, 1, "exactly one text")
	assert.Equal(e.t, msgs[0].SID, d.SID)
	assert.Equal(e.t, body, msgs[0].Body)
}

// auditLog is an AuditSink that keeps its entries.
type auditLog struct {
	mu      sync.Mutex
	entries []twilioguard.AuditEntry
}

func (a *auditLog) Audit(_ context.Context, e twilioguard.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditLog) events(key string) []twilioguard.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []twilioguard.AuditEvent
	for _, e := range a.entries {
		if e.Key == key {
			out = append(out, e.Event)
		}
	}
	return out
}

func (a *auditLog) all() []twilioguard.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]twilioguard.AuditEntry(nil), a.entries...)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// requireNoSecrets checks that text holds no full phone number, message
// body, auth token or Twilio error text.
func requireNoSecrets(t *testing.T, e *env, text string) {
	t.Helper()
	for _, secret := range []string{patient, strings.TrimPrefix(patient, "+"), body, e.cfg.AuthToken,
		"is not a valid phone number", "Too Many Requests", "unsubscribed recipient"} {
		assert.NotContains(t, text, secret)
	}
}

// createRequest is a create request made straight to the fake, as a
// process that left no record would have made it.
func createRequest(t *testing.T, fake *twiliotest.Server, from, to, text string) *http.Request {
	t.Helper()
	form := url.Values{"From": {from}, "To": {to}, "Body": {text}}
	req, err := http.NewRequest(http.MethodPost,
		fake.URL+"/2010-04-01/Accounts/"+fake.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.SetBasicAuth(fake.AccountSID, fake.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// sendDirect creates a message at the fake as another system would, with
// no delivery recorded, and returns its SID.
func sendDirect(t *testing.T, fake *twiliotest.Server, form url.Values) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost,
		fake.URL+"/2010-04-01/Accounts/"+fake.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.SetBasicAuth(fake.AccountSID, fake.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := fake.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	msgs := fake.Messages()
	return msgs[len(msgs)-1].SID
}
