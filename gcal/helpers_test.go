package gcal_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

const (
	org        = "clinic-1"
	account    = gcaltest.DefaultAccount
	redirect   = "https://app.example/oauth/callback"
	stateKeyV1 = "0123456789abcdef0123456789abcdef"
)

// env is a Client on a MemoryStore against an in-memory gcaltest server:
// usable inside a synctest bubble, where it must be created.
type env struct {
	t        *testing.T
	srv      *gcaltest.Server
	store    *gcal.MemoryStore
	audit    *auditLog
	logs     *lockedBuffer
	breakers *breaker.Registry[string]
	client   *gcal.Client
}

func newEnv(t *testing.T, opts ...gcal.Option) *env {
	t.Helper()
	srv := gcaltest.NewServer(gcaltest.Options{InMemory: true})
	t.Cleanup(srv.Close)
	e := &env{
		t:        t,
		srv:      srv,
		store:    &gcal.MemoryStore{},
		audit:    &auditLog{},
		logs:     &lockedBuffer{},
		breakers: breaker.NewRegistry[string](breaker.Settings{}),
	}
	e.client = e.newClient(e.store, opts...)
	return e
}

// newClient returns another Client on the same server, as another instance
// of the service would have.
func (e *env) newClient(store gcal.TokenStore, opts ...gcal.Option) *gcal.Client {
	base := []gcal.Option{
		gcal.WithEndpoint(e.srv.URL()),
		gcal.WithHTTPClient(e.srv.Client()),
		gcal.WithStateKey([]byte(stateKeyV1)),
		gcal.WithAudit(e.audit),
		gcal.WithBreakers(e.breakers),
		gcal.WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	return gcal.New(e.srv.OAuthConfig(redirect), store, append(base, opts...)...)
}

// link links orgID to account's calendar with a token fresh from the fake.
func (e *env) link(orgID string) gcal.Link {
	e.t.Helper()
	l, err := e.store.Save(context.Background(), gcal.Link{
		OrgID:  orgID,
		Token:  e.srv.IssueToken(account),
		Status: gcal.Linked,
	})
	require.NoError(e.t, err)
	return l
}

// stored returns orgID's link as stored.
func (e *env) stored(orgID string) gcal.Link {
	e.t.Helper()
	l, err := e.store.Load(context.Background(), orgID)
	require.NoError(e.t, err)
	return l
}

// refreshes counts the refresh_token grants the fake received.
func (e *env) refreshes() int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Op == gcaltest.OpToken && r.Grant == "refresh_token" {
			n++
		}
	}
	return n
}

// requests returns the requests of op.
func (e *env) requests(op gcaltest.Op) []gcaltest.Request {
	var out []gcaltest.Request
	for _, r := range e.srv.Requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// booking returns a valid booking with key.
func booking(key string) gcal.Booking {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return gcal.Booking{Key: key, Summary: "Check-up", Start: start, End: start.Add(30 * time.Minute)}
}

// auditLog is an AuditSink in memory.
type auditLog struct {
	mu      sync.Mutex
	entries []gcal.AuditEntry
}

func (a *auditLog) Audit(_ context.Context, e gcal.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

// events returns the events audited for orgID, in order.
func (a *auditLog) events(orgID string) []gcal.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []gcal.AuditEvent
	for _, e := range a.entries {
		if e.OrgID == orgID {
			out = append(out, e.Event)
		}
	}
	return out
}

func (a *auditLog) all() []gcal.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

// lockedBuffer is a buffer that goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// storeFunc wraps a TokenStore with hooks, to play other processes.
type storeFunc struct {
	gcal.TokenStore
	load func(ctx context.Context, orgID string) (gcal.Link, error)
	save func(ctx context.Context, l gcal.Link) (gcal.Link, error)
}

func (s *storeFunc) Load(ctx context.Context, orgID string) (gcal.Link, error) {
	if s.load != nil {
		return s.load(ctx, orgID)
	}
	return s.TokenStore.Load(ctx, orgID)
}

func (s *storeFunc) Save(ctx context.Context, l gcal.Link) (gcal.Link, error) {
	if s.save != nil {
		return s.save(ctx, l)
	}
	return s.TokenStore.Save(ctx, l)
}

// refreshElsewhere refreshes orgID's token as another process would, through
// the fake's token endpoint, and saves it.
func (e *env) refreshElsewhere(orgID string) gcal.Link {
	e.t.Helper()
	cur := e.stored(orgID)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	tok, err := e.srv.OAuthConfig(redirect).TokenSource(ctx, &oauth2.Token{RefreshToken: cur.Token.RefreshToken}).Token()
	require.NoError(e.t, err)
	cur.Token = tok
	saved, err := e.store.Save(context.Background(), cur)
	require.NoError(e.t, err)
	return saved
}

func tokenFor(access string) *oauth2.Token {
	return &oauth2.Token{AccessToken: access, RefreshToken: "r-" + access}
}
