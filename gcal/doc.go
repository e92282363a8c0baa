// Package gcal books appointments in the Google Calendars of many
// organisations (clinics, say), each linked once with its own OAuth token,
// so that a booking made while a patient is on the phone never fails over a
// token.
//
//	client := gcal.New(oauthConfig, store, // store: gcal/sqlstore on PostgreSQL or SQLite
//		gcal.WithStateKey(stateKey), gcal.WithAudit(store))
//	ev, err := client.Book(ctx, orgID, gcal.Booking{
//		Key:   callID + "/" + slot, // one event per key, ever
//		Start: start, End: start.Add(30 * time.Minute),
//		Summary: "Check-up: Ada Lovelace",
//	})
//	if err != nil {
//		agent.Say(safecall.UserMessage(err))
//	}
//
// # Links and tokens
//
// An organisation links its Google account through AuthURL and Exchange:
// the state is signed with the key of WithStateKey, bound to the
// organisation, expiring and good for one use, and the flow uses PKCE with
// a verifier derived from the state, so the callback can land on any
// instance. The resulting Link (tokens, calendar, status) lives in a
// TokenStore, whose Save is a compare-and-swap on Link.Version.
//
// Before each call the Client loads the link and, when its access token
// expires within the refresh skew (WithRefreshSkew, 5 minutes), refreshes it;
// a 401 from Google refreshes it once more and the request is retried once.
// Every refreshed token is saved before it is used. Calls of one process
// share one refresh per organisation; across processes, the refresh whose
// Save loses the compare-and-swap re-reads the link and uses the winner's
// token, never writing over a newer version.
//
// When Google refuses the refresh token (invalid_grant: access removed,
// password changed, grant expired) the link is saved as RelinkRequired with
// a Reason for people, calls fail at once with ErrRelinkRequired, and no
// token request is made for that organisation until it links again. A
// token endpoint that fails otherwise is a Temporary failure, retried.
//
// Every credential access is audited through WithAudit (loaded, refreshed,
// saved, refused, linked, relinked, unlinked): organisation, event and
// time, never a token.
//
// # Calls
//
// Book is idempotent: the event id is EventID(org, key), so a retry after a
// lost answer, or a second Book, finds the event (Google answers 409) and
// returns it with Created false. Cancel is idempotent; Busy reads freeBusy.
// Each request goes through safecall.Call with Classify and the breaker of
// the organisation (WithBreakers), honouring the context's deadline,
// Google's Retry-After, and safecall's policy. Failures are
// *safecall.Error: safecall.UserMessage gives a sentence fit for a caller.
//
// Check reports, without a network call, how many links need a relink.
//
// For tests and sandboxes, gcal/gcaltest is a fake Google Calendar and
// OAuth server.
package gcal
