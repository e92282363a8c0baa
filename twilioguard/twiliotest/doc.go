// Package twiliotest is an in-process fake of Twilio's Messages API for
// tests and sandboxes. It speaks Twilio's wire format, so that the real
// SDK (github.com/twilio/twilio-go) produces its real results and errors
// against it, and it fails on demand.
//
//	fake := twiliotest.NewServer()
//	defer fake.Close()
//	g, _ := twilioguard.New(twilioguard.Config{
//		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken,
//		From: twiliotest.FromValid, BaseURL: fake.URL,
//	})
//
// or, with plain twilio-go, which always addresses api.twilio.com:
//
//	c := &client.Client{Credentials: client.NewCredentials(fake.AccountSID, fake.AuthToken),
//		HTTPClient: fake.Client()}
//
// # What it serves
//
// Under /2010-04-01/Accounts/{AccountSid}/, with HTTP Basic auth (a wrong
// credential gets 401 and error 20003):
//
//   - POST Messages.json creates a message from a form (To, From or
//     MessagingServiceSid, Body, StatusCallback), validated as Twilio does
//     (21604, 21603, 21602, 21617, 21211...), and answers 201 with the
//     Message resource: status "queued" ("accepted" through a Messaging
//     Service), date_sent null until it is sent.
//   - GET Messages/{Sid}.json fetches one (404 and 20404 if unknown).
//   - GET Messages.json lists them, newest first, filtered by To, From,
//     DateSent, DateSent< and DateSent> (a date or an RFC 3339 time;
//     messages not yet sent match no DateSent filter), in pages with
//     next_page_uri, Page and PageToken as twilio-go follows them.
//
// Errors carry Twilio's body: {"code":21211,"message":"...","more_info":
// "https://www.twilio.com/docs/errors/21211","status":400}.
//
// # Magic numbers
//
// As with Twilio's test credentials, FromInvalid, FromNotOwned and
// FromQueueFull fail as senders, and ToInvalid, ToUnroutable,
// ToNoPermission, ToBlocked and ToNotMobile as recipients, with Twilio's
// codes.
//
// # Faults
//
// Script queues Faults for the requests of one sender (a From number or
// a Messaging Service): an HTTP status with a Twilio code and Retry-After,
// an HTML page as a proxy sends, a delay, a dropped connection; and, with
// Accept, each of these after the message was created, which is how a
// client loses the answer to a request that succeeded. Unscript ends one
// sender's outage.
//
// # Status callbacks
//
// SetStatus moves a message on; Callback posts a status callback, signed
// with X-Twilio-Signature (see Signature) as Twilio signs them, to the
// message's StatusCallback, in any order and as often as asked; Advance
// does both in Twilio's order. WithLifecycle makes every message move on
// by itself, for a sandbox.
//
// Messages, Message, Requests and Count show what the fake received.
package twiliotest
