package twilioguard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func Example() {
	ctx := context.Background()
	fake := twiliotest.NewServer() // Twilio, for the example
	defer fake.Close()

	g, err := twilioguard.New(twilioguard.Config{
		AccountSID: fake.AccountSID,
		AuthToken:  fake.AuthToken,
		From:       "+15005550006",
		BaseURL:    fake.URL,
	})
	if err != nil {
		panic(err)
	}
	defer g.CloseIdleConnections()

	m := twilioguard.Message{
		OrgID: "clinic-7",
		Key:   "appt-42/confirmation",
		To:    "+1 (555) 123-4567",
		Body:  "See you Tuesday at 10:00.",
	}
	d, err := g.Send(ctx, m)
	fmt.Println(d.Status, d.SID, d.To, err)

	// Sending the same key again sends nothing.
	again, _ := g.Send(ctx, m)
	fmt.Println(again.SID == d.SID, len(fake.Messages()))

	// A recipient who replied STOP: Twilio's code, no retry.
	_, err = g.Send(ctx, twilioguard.Message{OrgID: "clinic-7", Key: "appt-43/confirmation",
		To: twiliotest.ToBlocked, Body: "See you Wednesday."})
	var te *client.TwilioRestError
	fmt.Println(safecall.ClassOf(err), errors.As(err, &te) && te.Code == 21610)
	fmt.Println(err)
	// Output:
	// queued SM00000000000000000000000000000001 +15551234567 <nil>
	// true 1
	// permanent true
	// twilioguard: send "clinic-7"/"appt-43/confirmation" to +1******0004: permanent (Twilio 21610, HTTP 400) after 1 attempt
}

// Twilio answers 500 after creating the message: the guard lists the
// messages, finds it, and sends nothing more.
func ExampleGuard_Send_lostAnswer() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	fake.Script("+15005550006", twiliotest.Fault{Accept: true, Status: 500})

	g, _ := twilioguard.New(twilioguard.Config{
		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken,
		From: "+15005550006", BaseURL: fake.URL,
	}, twilioguard.WithCallOptions(safecall.WithBackoff(time.Millisecond, time.Millisecond))) // short waits for the example
	defer g.CloseIdleConnections()

	d, err := g.Send(context.Background(), twilioguard.Message{
		OrgID: "clinic-7", Key: "appt-42/confirmation", To: "+15551234567", Body: "See you Tuesday at 10:00.",
	})
	fmt.Println(d.Status, d.Attempts, err)
	fmt.Println("texts sent:", len(fake.Messages()), "creates:", fake.Count(twiliotest.Create), "lists:", fake.Count(twiliotest.List))
	// Output:
	// queued 1 <nil>
	// texts sent: 1 creates: 1 lists: 1
}

func ExampleGuard_StatusHandler() {
	ctx := context.Background()
	fake := twiliotest.NewServer()
	defer fake.Close()
	app := httptest.NewUnstartedServer(nil) // where Twilio posts status callbacks
	defer app.Close()

	g, _ := twilioguard.New(twilioguard.Config{
		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006", BaseURL: fake.URL,
		StatusCallback: "http://" + app.Listener.Addr().String() + "/twilio/status",
	})
	defer g.CloseIdleConnections()
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/status", g.StatusHandler())
	app.Config.Handler = mux
	app.Start()

	d, _ := g.Send(ctx, twilioguard.Message{OrgID: "clinic-7", Key: "k", To: "+15551234567", Body: "Hi"})
	_ = fake.Advance(ctx, d.SID, 0, "sent", "delivered")
	_, _ = fake.Callback(ctx, d.SID, "sent", 0) // late and out of order
	d, _ = g.Delivery(ctx, "clinic-7", "k")
	fmt.Println(d.Status)
	// Output: delivered
}
