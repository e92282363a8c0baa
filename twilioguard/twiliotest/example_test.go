package twiliotest_test

import (
	"fmt"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func Example() {
	fake := twiliotest.NewServer()
	defer fake.Close()

	// Plain twilio-go, pointed at the fake.
	c := &client.Client{
		Credentials: client.NewCredentials(fake.AccountSID, fake.AuthToken),
		HTTPClient:  fake.Client(),
	}
	c.SetAccountSid(fake.AccountSID)
	api := openapi.NewApiService(&client.RequestHandler{Client: c})

	p := &openapi.CreateMessageParams{}
	p.SetFrom(twiliotest.FromValid).SetTo("+15551234567").SetBody("Hello")
	m, err := api.CreateMessage(p)
	fmt.Println(*m.Sid, *m.Status, err)

	// The next create from this number fails with a rate limit.
	fake.Script(twiliotest.FromValid, twiliotest.Fault{Status: 429, RetryAfter: "2"})
	_, err = api.CreateMessage(p)
	fmt.Println(err.(*client.TwilioRestError).Code)

	// A magic number fails as with Twilio's test credentials.
	_, err = api.CreateMessage(p.SetTo(twiliotest.ToBlocked))
	fmt.Println(err.(*client.TwilioRestError).Code)

	fmt.Println(len(fake.Messages()), fake.Count(twiliotest.Create))
	// Output:
	// SM00000000000000000000000000000001 queued <nil>
	// 20429
	// 21610
	// 1 3
}

func ExampleServer_Script() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	// Create the message, then answer 500: the client never learns of it.
	fake.Script(twiliotest.FromValid, twiliotest.Fault{Accept: true, Status: 500})

	c := &client.Client{Credentials: client.NewCredentials(fake.AccountSID, fake.AuthToken), HTTPClient: fake.Client()}
	c.SetAccountSid(fake.AccountSID)
	api := openapi.NewApiService(&client.RequestHandler{Client: c})
	_, err := api.CreateMessage((&openapi.CreateMessageParams{}).
		SetFrom(twiliotest.FromValid).SetTo("+15551234567").SetBody("Hello"))
	fmt.Println(err.(*client.TwilioRestError).Code, len(fake.Messages()))
	// Output: 20500 1
}

func ExampleSignature() {
	// Twilio's documented example of a request signature.
	fmt.Println(twiliotest.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", map[string][]string{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}))
	// Output: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
}
