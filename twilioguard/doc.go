// Package twilioguard sends SMS through Twilio for a multi-tenant service:
// each message exactly once, each tenant (org) behind its own circuit
// breaker, every attempt and outcome audited, delivery statuses tracked
// from Twilio's callbacks.
//
//	g, err := twilioguard.New(twilioguard.Config{
//		AccountSID:     os.Getenv("TWILIO_ACCOUNT_SID"),
//		AuthToken:      os.Getenv("TWILIO_AUTH_TOKEN"),
//		From:           "+15005550006",
//		StatusCallback: "https://api.example.com/twilio/status",
//	}, twilioguard.WithStore(store), twilioguard.WithAudit(store))
//	...
//	mux.Handle("POST /twilio/status", g.StatusHandler())
//	d, err := g.Send(ctx, twilioguard.Message{
//		OrgID: clinicID, Key: "appt-42/confirmation",
//		To: "(555) 123-4567", Body: "See you Tuesday at 10:00.",
//	})
//	if err != nil {
//		agent.Say(safecall.UserMessage(err))
//	}
//
// # Exactly once
//
// A Message's (OrgID, Key) names it for ever. Send records the delivery
// (Pending) in the DeliveryStore before its request, so that a second Send
// of the key, concurrent or years later, in this process or in another
// sharing the store (twilioguard/sqlstore), makes no second request.
// Within a process concurrent Sends of a key share one request; across
// processes the store's unique key elects one, and the others poll the
// store until it is done (its lease, WithLease, bounds the wait should it
// vanish).
//
// Twilio has no idempotency key for messages, so an answer that is lost
// (a 5xx, which Twilio can answer after creating the message; a timeout
// or a reset after the request was written; a page from a proxy that is
// not Twilio's JSON) leaves the delivery Unknown. Before anything is sent
// again, the guard lists the messages to that number from that sender:
// those not yet sent (which have no date_sent and come first), then those
// sent since the day of the first attempt (DateSent>), newest first, until
// they predate it. A message created since the first attempt whose body
// matches, and that no other delivery claims, is the one: the delivery
// takes its SID. Only if there is none is the message sent again. If
// listing fails the delivery stays Unknown and Send returns an error; the
// next Send of the key reconciles first.
//
// SendBatch, Delivery and StatusHandler work on the same records. A
// status callback can arrive before Send has recorded the SID it is about
// (within milliseconds of the create answer): it is then ignored, and the
// next callback of the message brings the delivery up to date.
//
// # Failures
//
// Classify reads Twilio's error codes: 20429 (and 14107, 21611) is a rate
// limit, retried with backoff honouring Retry-After; 21211, 21408, 21610,
// 21612, 21614 and the other refusals of a message are Permanent, never
// retried and never counted against the org's breaker; 20003 is Auth.
// Each org has its own breaker (WithBreakers), so one clinic's outage
// never slows another's texts; SendBatch keeps at most WithConcurrency
// requests in flight and lets an org whose breaker is open fail fast.
//
// Errors are *Error values, which unwrap to twilio-go's
// *client.TwilioRestError when Twilio answered one. Their text, the audit
// entries and the logs carry masked numbers (+1******4567) and codes,
// never a full number, a body, the auth token or Twilio's error text
// (which repeats the number).
//
// # Tracking
//
// StatusHandler receives Twilio's status callbacks, checks their
// signature against Config.StatusCallback (the public URL, not the Host a
// proxy rewrites), and moves deliveries forward only: a late "sent" never
// overwrites "delivered". Check reports, without a request, whether orgs'
// breakers are open or too many recent deliveries failed.
//
// Twilio's Go SDK (github.com/twilio/twilio-go) makes the requests. It has
// no context support and a fixed base URL: the guard gives it, per call,
// an HTTP client whose transport carries the call's context and sends to
// Config.BaseURL (twilioguard/twiliotest's fake in tests).
package twilioguard
