package main

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
	"github.com/voxanne/resilience/gcal"
	gcalsql "github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
	"github.com/voxanne/resilience/twilioguard"
	twiliosql "github.com/voxanne/resilience/twilioguard/sqlstore"
)

// tour is README.md's one-minute tour, compiled: the README shows the code
// between the markers, and TestReadmeTourCompiles keeps the two equal.
func tour(ctx context.Context, db *sql.DB, rdb redis.UniversalClient, mux *http.ServeMux,
	oauthConfig *oauth2.Config, tokenKey, stateKey []byte, twilioCfg twilioguard.Config,
	jwksURL string, isStaff func(*http.Request) bool, say func(string)) error {
	// tour:start
	store, err := sqlstore.New(db) // tenant/sqlstore: PostgreSQL (pgx) or SQLite (modernc)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	verifier, err := tenant.JWKS(jwksURL) // or tenant.HS256(secret), 32 bytes or more
	if err != nil {
		return err
	}
	auth := tenant.Middleware(verifier,
		tenant.WithDirectory(store),   // a token that predates its organisation heals from the database
		tenant.WithProvisioner(store)) // a brand-new user gets an organisation, exactly once

	// One breaker per clinic; an open circuit found by one instance is seen by all within 1s.
	shared := redisstore.New(rdb)
	breakers := breaker.NewRegistry[string](breaker.Settings{Store: shared})
	go shared.Watch(ctx, breakers.Sync)

	links, err := gcalsql.New(db, gcalsql.Key{ID: "2026-11", Secret: tokenKey}) // tokens encrypted at rest
	if err != nil {
		return err
	}
	calendar := gcal.New(oauthConfig, links, gcal.WithBreakers(breakers), gcal.WithStateKey(stateKey), gcal.WithAudit(links))

	deliveries, err := twiliosql.New(db) // each text once, across instances
	if err != nil {
		return err
	}
	texts, err := twilioguard.New(twilioCfg, twilioguard.WithStore(deliveries), twilioguard.WithAudit(deliveries))
	if err != nil {
		return err
	}
	mux.Handle("POST /twilio/status", texts.StatusHandler())

	mux.Handle("POST /appointments", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenant.FromContext(r.Context()) // verified; never from a header or the body
		key := r.Header.Get("Idempotency-Key")
		start := time.Date(2030, 1, 15, 9, 0, 0, 0, time.UTC)
		_, err := calendar.Book(r.Context(), t.OrgID, gcal.Booking{Key: key, Start: start, End: start.Add(30 * time.Minute)})
		if err != nil {
			say(safecall.UserMessage(err)) // a calm sentence; no hosts, tokens or codes
			return
		}
		_, err = texts.Send(r.Context(), twilioguard.Message{OrgID: t.OrgID, Key: key, To: "+15551234567", Body: "See you Tuesday."})
		if err != nil {
			say("You're booked; the text will follow.") // a failed text never fails the booking
		}
	})))

	mux.Handle("GET /api/health/integrations", health.New([]health.Check{
		health.SQL("Database", db, health.AsCritical()),
		shared.Check("Redis"),
		calendar.Check("Google Calendar"),
		health.Breakers("Circuit breakers", breakers),
		texts.Check("Twilio SMS"),
	}, health.WithDetails(isStaff))) // details (tenants, error texts) for operators only
	// tour:end
	return nil
}

// tourHTTP is the tour's second snippet: any other vendor's http.Client.
func tourHTTP(breakers *breaker.Registry[string], orgOf func(*http.Request) string) *http.Client {
	// tour:start
	client := &http.Client{Transport: safecall.NewTransport(nil, safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
		return breakers.Get(orgOf(r)) // a breaker per clinic
	}))}
	// tour:end
	return client
}

// TestReadmeTourCompiles keeps README.md's tour equal to the snippets
// above, which the compiler checks.
func TestReadmeTourCompiles(t *testing.T) {
	src, err := os.ReadFile("tour_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	const start, end = "\t// tour:start\n", "\t// tour:end\n"
	rest, n := string(src), 0
	for {
		i := strings.Index(rest, start)
		if i < 0 {
			break
		}
		rest = rest[i+len(start):]
		body := rest[:strings.Index(rest, end)]
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(l, "\t"))
		}
		snippet := "```go\n" + strings.Join(lines, "\n") + "\n```\n"
		require.True(t, strings.Contains(string(readme), snippet), "README.md shows the tour, verbatim:\n%s", snippet)
		n++
	}
	require.Equal(t, 2, n, "two snippets")
}
