package gcal_test

import (
	"context"
	"fmt"
	"time"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/safecall"
)

// A clinic links its Google account, then the voice agent books an
// appointment, twice: the second Book finds the first event.
func Example() {
	ctx := context.Background()
	google := gcaltest.NewServer(gcaltest.Options{})
	defer google.Close()

	store := &gcal.MemoryStore{} // gcal/sqlstore in production
	client := gcal.New(google.OAuthConfig("https://app.example/oauth/callback"), store,
		gcal.WithEndpoint(google.URL()),
		gcal.WithHTTPClient(google.Client()),
		gcal.WithStateKey([]byte("example state key of 32+ bytes!!")))

	// The clinic's admin opens the consent page; Google redirects back.
	authURL, err := client.AuthURL("clinic-1")
	if err != nil {
		panic(err)
	}
	code, state, err := google.Consent(ctx, authURL) // the browser's round trip
	if err != nil {
		panic(err)
	}
	link, err := client.Exchange(ctx, state, code)
	fmt.Println("link:", link.Status, err)

	// During a phone call.
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	booking := gcal.Booking{
		Key:     "call-42/slot-0900",
		Summary: "Check-up: Ada Lovelace",
		Start:   start,
		End:     start.Add(30 * time.Minute),
	}
	ev, err := client.Book(ctx, "clinic-1", booking)
	fmt.Println("booked:", ev.Created, ev.Start.Format(time.Kitchen), err)
	ev, err = client.Book(ctx, "clinic-1", booking) // a retry: same event
	fmt.Println("again:", ev.Created, err, len(google.Events("primary")), "event")

	// A clinic that never linked its calendar.
	_, err = client.Book(ctx, "clinic-2", booking)
	fmt.Println(safecall.ClassOf(err), safecall.UserMessage(err))
	// Output:
	// link: linked <nil>
	// booked: true 9:00AM <nil>
	// again: false <nil> 1 event
	// auth I can't reach the calendar right now, so I can't book this myself. I'll make sure someone from the team follows up with you.
}
