package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/gcal/sqlstore"
)

// A clinic links its calendar; the link, its encrypted tokens and the
// audit of each access are kept in SQLite.
func Example() {
	ctx := context.Background()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // each connection to ":memory:" is a database of its own

	// In production the secret comes from a secret manager: 32 random bytes.
	key := sqlstore.Key{ID: "2026-11", Secret: []byte("example secret of 32 bytes!!!!!!")}
	store, err := sqlstore.New(db, key)
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	google := gcaltest.NewServer(gcaltest.Options{}) // Google itself in production
	defer google.Close()
	client := gcal.New(google.OAuthConfig("https://app.example/oauth/callback"), store,
		gcal.WithEndpoint(google.URL()), gcal.WithHTTPClient(google.Client()),
		gcal.WithStateKey([]byte("example state key of 32+ bytes!!")),
		gcal.WithAudit(store))

	authURL, _ := client.AuthURL("clinic-1")
	code, state, _ := google.Consent(ctx, authURL)
	if _, err := client.Exchange(ctx, state, code); err != nil {
		panic(err)
	}
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ev, err := client.Book(ctx, "clinic-1", gcal.Booking{
		Key: "call-42", Summary: "Check-up", Start: start, End: start.Add(30 * time.Minute),
	})
	fmt.Println("booked:", ev.Created, err)

	entries, err := store.AuditLog(ctx, "clinic-1", 0)
	if err != nil {
		panic(err)
	}
	slices.Reverse(entries) // oldest first
	for _, e := range entries {
		fmt.Println(strings.TrimSpace(string(e.Event) + " " + e.Detail))
	}
	// Output:
	// booked: true <nil>
	// saved linked, version 1
	// loaded version 1
	// linked
	// loaded version 1
}
