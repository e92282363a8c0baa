package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/sqlstore"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func Example() {
	ctx := context.Background()
	fake := twiliotest.NewServer() // Twilio, for the example
	defer fake.Close()

	// One connection: each connection to ":memory:" is a database of its own.
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	store, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	g, err := twilioguard.New(twilioguard.Config{
		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken,
		From: twiliotest.FromValid, BaseURL: fake.URL,
	}, twilioguard.WithStore(store), twilioguard.WithAudit(store))
	if err != nil {
		panic(err)
	}
	defer g.CloseIdleConnections()

	d, err := g.Send(ctx, twilioguard.Message{
		OrgID: "clinic-7", Key: "appt-42/confirmation", To: "+15551234567", Body: "See you Tuesday at 10:00.",
	})
	fmt.Println(d.Status, err)

	trail, _ := store.Trail(ctx, "clinic-7", "appt-42/confirmation")
	for _, e := range trail {
		fmt.Printf("%s to=%s attempt=%d sid=%q\n", e.Event, e.To, e.Attempt, e.SID)
	}
	// Output:
	// queued <nil>
	// attempt to=+1******4567 attempt=1 sid=""
	// accepted to=+1******4567 attempt=1 sid="SM00000000000000000000000000000001"
}
