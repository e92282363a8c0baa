// Package gcaltest is an in-process fake of the parts of Google Calendar
// that a booking integration uses, for tests and sandboxes: the Calendar
// API (events insert, get, delete and list; freeBusy) and Google's OAuth 2.0
// endpoints (consent, token and revocation). It speaks Google's wire
// format, error bodies included, so that google.golang.org/api/calendar/v3
// and golang.org/x/oauth2 used for real against it produce their real
// error types (*googleapi.Error, *oauth2.RetrieveError).
//
//	srv := gcaltest.NewServer(gcaltest.Options{})
//	defer srv.Close()
//	svc, err := calendar.NewService(ctx,
//		option.WithEndpoint(srv.URL()), option.WithHTTPClient(srv.Client()))
//	// requests need an access token: srv.IssueToken(account).AccessToken
//
// # What it models
//
//   - Access tokens that expire after Options.TokenLifetime (by the clock of
//     Options.Now) and are then answered 401; refresh tokens that Revoke
//     turns into invalid_grant; ExpireAccessTokens to force the 401 path.
//   - The authorization code flow with PKCE (S256 or plain): the consent
//     endpoint approves as the account named by login_hint, or else the
//     current account (SetAccount), and redirects with code and state; the token endpoint checks the client, the redirect URI and the
//     code verifier; a refresh token is issued with access_type=offline on
//     the account's first consent, or with prompt=consent.
//   - Events with caller-chosen ids (base32hex, 5 to 1024 characters): a
//     second insert of an id is 409 duplicate, even after the event was
//     deleted; a deleted event stays readable with status "cancelled" and
//     a second delete is 410. "primary" is the account's own calendar.
//
// # Faults
//
// Fail queues a Fault for the next requests of an endpoint: an HTTP status
// with Google's reason and a Retry-After header, a dropped connection, a
// delay, or a request performed and then failed ("commit then fail"), whose
// answer the client never gets. A Fault with an Account applies only to the
// requests of that Google account: one customer's outage in a multi-tenant
// sandbox; ClearAccountFaults ends it. Requests and Count read the request log;
// Events and Event read what the calendars hold.
//
// # testing/synctest
//
// A server made with Options.InMemory opens no port: Client reaches it
// over an in-memory network, so that a test can run it, and the clients
// that use it, inside a synctest bubble with a fake clock. Create it inside
// the bubble and Close it before the bubble ends.
package gcaltest
