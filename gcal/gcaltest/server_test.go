package gcaltest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/gcal/gcaltest"
)

const account = gcaltest.DefaultAccount

// fixture is a server with a Calendar service authorised as account.
type fixture struct {
	srv *gcaltest.Server
	svc *calendar.Service
	tok *oauth2.Token
}

func newFixture(t *testing.T, opts gcaltest.Options) *fixture {
	t.Helper()
	srv := gcaltest.NewServer(opts)
	t.Cleanup(srv.Close)
	tok := srv.IssueToken(account)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	hc := srv.OAuthConfig("https://app.example/cb").Client(ctx, tok)
	svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()), option.WithHTTPClient(hc))
	require.NoError(t, err)
	return &fixture{srv: srv, svc: svc, tok: tok}
}

func event(id string, start time.Time, d time.Duration) *calendar.Event {
	return &calendar.Event{
		Id:      id,
		Summary: "Check-up",
		Start:   &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:     &calendar.EventDateTime{DateTime: start.Add(d).Format(time.RFC3339)},
	}
}

// googleErr returns the *googleapi.Error in err.
func googleErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.ErrorAs(t, err, &ge)
	return ge
}

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestEventsLifeCycle(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	ev, err := f.svc.Events.Insert("primary", event("booking00001", day.Add(9*time.Hour), time.Hour)).Do()
	require.NoError(t, err)
	assert.Equal(t, "booking00001", ev.Id)
	assert.Equal(t, "confirmed", ev.Status)
	assert.Equal(t, account, ev.Organizer.Email)
	assert.NotEmpty(t, ev.HtmlLink)

	_, err = f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	ge := googleErr(t, err)
	assert.Equal(t, http.StatusConflict, ge.Code)
	assert.Equal(t, "duplicate", ge.Errors[0].Reason)
	assert.Equal(t, "The requested identifier already exists.", ge.Message)

	got, err := f.svc.Events.Get("primary", "booking00001").Do()
	require.NoError(t, err)
	assert.Equal(t, ev.Id, got.Id)

	require.NoError(t, f.svc.Events.Delete("primary", "booking00001").Do())
	err = f.svc.Events.Delete("primary", "booking00001").Do()
	assert.Equal(t, http.StatusGone, googleErr(t, err).Code)
	got, err = f.svc.Events.Get("primary", "booking00001").Do()
	require.NoError(t, err)
	assert.Equal(t, "cancelled", got.Status, "a deleted event stays readable")
	_, err = f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	assert.Equal(t, http.StatusConflict, googleErr(t, err).Code, "its id stays taken")

	_, err = f.svc.Events.Get("primary", "nosuchevent").Do()
	ge = googleErr(t, err)
	assert.Equal(t, http.StatusNotFound, ge.Code)
	assert.Equal(t, "notFound", ge.Errors[0].Reason)
	err = f.svc.Events.Delete("primary", "nosuchevent").Do()
	assert.Equal(t, http.StatusNotFound, googleErr(t, err).Code)

	// "primary" is the account's calendar.
	assert.Len(t, f.srv.Events(account), 1)
	assert.Len(t, f.srv.Events("primary"), 1)
}

func TestInsertValidates(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for name, tt := range map[string]struct {
		ev     *calendar.Event
		reason string
	}{
		"id too short":     {event("abcd", day, time.Hour), "invalid"},
		"id out of base32": {event("booking-0001", day, time.Hour), "invalid"},
		"id upper case":    {event("BOOKING00001", day, time.Hour), "invalid"},
		"no end":           {&calendar.Event{Start: &calendar.EventDateTime{DateTime: day.Format(time.RFC3339)}}, "required"},
		"empty range":      {event("", day, 0), "timeRangeEmpty"},
	} {
		_, err := f.svc.Events.Insert("primary", tt.ev).Do()
		ge := googleErr(t, err)
		assert.Equal(t, http.StatusBadRequest, ge.Code, name)
		assert.Equal(t, tt.reason, ge.Errors[0].Reason, name)
	}
	assert.Empty(t, f.srv.Events("primary"))

	ev, err := f.svc.Events.Insert("primary", event("", day, time.Hour)).Do()
	require.NoError(t, err)
	assert.Regexp(t, `^[a-v0-9]{26}$`, ev.Id, "the server picks an id")
}

func TestListEvents(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for h := range 5 {
		_, err := f.svc.Events.Insert("primary", event("", day.Add(time.Duration(8+h)*time.Hour), time.Hour)).Do()
		require.NoError(t, err)
	}
	gone, err := f.svc.Events.Insert("primary", event("", day.Add(20*time.Hour), time.Hour)).Do()
	require.NoError(t, err)
	require.NoError(t, f.svc.Events.Delete("primary", gone.Id).Do())

	page, err := f.svc.Events.List("primary").TimeMin(day.Add(9 * time.Hour).Format(time.RFC3339)).
		TimeMax(day.Add(12 * time.Hour).Format(time.RFC3339)).MaxResults(2).Do()
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	assert.Equal(t, day.Add(9*time.Hour).Format(time.RFC3339), page.Items[0].Start.DateTime)
	require.NotEmpty(t, page.NextPageToken)
	next, err := f.svc.Events.List("primary").TimeMin(day.Add(9 * time.Hour).Format(time.RFC3339)).
		TimeMax(day.Add(12 * time.Hour).Format(time.RFC3339)).MaxResults(2).PageToken(page.NextPageToken).Do()
	require.NoError(t, err)
	assert.Len(t, next.Items, 1)
	assert.Empty(t, next.NextPageToken)

	all, err := f.svc.Events.List("primary").Do()
	require.NoError(t, err)
	assert.Len(t, all.Items, 5, "cancelled events only with showDeleted")
	all, err = f.svc.Events.List("primary").ShowDeleted(true).Do()
	require.NoError(t, err)
	assert.Len(t, all.Items, 6)
}

func TestFreeBusy(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	f.srv.AddEvent("primary", event("", day.Add(9*time.Hour), time.Hour))
	f.srv.AddEvent("primary", event("", day.Add(16*time.Hour), 2*time.Hour))
	free := event("", day.Add(12*time.Hour), time.Hour)
	free.Transparency = "transparent"
	f.srv.AddEvent("primary", free)
	f.srv.AddEvent("other@clinic.example", event("", day.Add(10*time.Hour), time.Hour))

	resp, err := f.svc.Freebusy.Query(&calendar.FreeBusyRequest{
		TimeMin: day.Add(8 * time.Hour).Format(time.RFC3339),
		TimeMax: day.Add(17 * time.Hour).Format(time.RFC3339),
		Items:   []*calendar.FreeBusyRequestItem{{Id: "primary"}, {Id: "other@clinic.example"}},
	}).Do()
	require.NoError(t, err)
	primary := resp.Calendars["primary"].Busy
	require.Len(t, primary, 2)
	assert.Equal(t, "2026-12-01T09:00:00Z", primary[0].Start)
	assert.Equal(t, "2026-12-01T17:00:00Z", primary[1].End, "clipped to the query")
	assert.Len(t, resp.Calendars["other@clinic.example"].Busy, 1)
}

func TestAccessTokens(t *testing.T) {
	now := day
	f := newFixture(t, gcaltest.Options{TokenLifetime: 10 * time.Minute, Now: func() time.Time { return now }})
	assert.Equal(t, int64(600), f.tok.ExpiresIn)
	assert.Equal(t, day.Add(10*time.Minute), f.tok.Expiry)

	// A request without a token, or with an expired one, is 401.
	plain, err := calendar.NewService(t.Context(), option.WithEndpoint(f.srv.URL()), option.WithHTTPClient(f.srv.Client()))
	require.NoError(t, err)
	_, err = plain.Events.List("primary").Do()
	ge := googleErr(t, err)
	assert.Equal(t, http.StatusUnauthorized, ge.Code)
	assert.Equal(t, "required", ge.Errors[0].Reason)

	call := plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+f.tok.AccessToken)
	_, err = call.Do()
	require.NoError(t, err)
	now = now.Add(10 * time.Minute)
	call = plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+f.tok.AccessToken)
	_, err = call.Do()
	ge = googleErr(t, err)
	assert.Equal(t, http.StatusUnauthorized, ge.Code)
	assert.Equal(t, "authError", ge.Errors[0].Reason)
	assert.Contains(t, ge.Header.Get("WWW-Authenticate"), "invalid_token")

	fresh := f.srv.IssueToken(account)
	f.srv.ExpireAccessTokens()
	call = plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+fresh.AccessToken)
	_, err = call.Do()
	assert.Equal(t, http.StatusUnauthorized, googleErr(t, err).Code)
}

func TestAuthorizationCodeFlowWithPKCE(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	cfg := srv.OAuthConfig("https://app.example/cb")
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st4te", oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier))

	code, state, err := srv.Consent(ctx, authURL)
	require.NoError(t, err)
	assert.Equal(t, "st4te", state)
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption("wrong-"+verifier))
	requireOAuthError(t, err, "invalid_grant", "Invalid code verifier.")
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	requireOAuthError(t, err, "invalid_grant", "", "a code is spent by its first use")

	code, _, err = srv.Consent(ctx, authURL)
	require.NoError(t, err)
	_, err = cfg.Exchange(ctx, code)
	requireOAuthError(t, err, "invalid_grant", "Missing code verifier.")

	code, _, err = srv.Consent(ctx, authURL)
	require.NoError(t, err)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.NotEmpty(t, tok.RefreshToken, "first offline consent of the account")
	assert.Equal(t, "Bearer", tok.TokenType)

	// Later consents issue a refresh token only with prompt=consent.
	code, _, err = srv.Consent(ctx, authURL)
	require.NoError(t, err)
	again, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Empty(t, again.RefreshToken)
	code, _, err = srv.Consent(ctx, cfg.AuthCodeURL("s", oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier)))
	require.NoError(t, err)
	forced, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.NotEmpty(t, forced.RefreshToken)
	assert.NotEqual(t, tok.RefreshToken, forced.RefreshToken)

	// Refresh, revoke.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, refreshed.AccessToken)
	assert.Equal(t, tok.RefreshToken, refreshed.RefreshToken, "Google sends no new one; x/oauth2 keeps the old")
	require.True(t, srv.Revoke(tok.RefreshToken))
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	requireOAuthError(t, err, "invalid_grant", "Token has been expired or revoked.")
	assert.False(t, srv.Revoke("unknown"))

	grants := []string{}
	for _, r := range srv.Requests() {
		if r.Op == gcaltest.OpToken {
			grants = append(grants, r.Grant)
			assert.Equal(t, account, r.Account)
		}
	}
	assert.Equal(t, []string{"authorization_code", "authorization_code", "authorization_code",
		"authorization_code", "authorization_code", "authorization_code", "refresh_token", "refresh_token"}, grants)
}

func requireOAuthError(t *testing.T, err error, code, description string, msg ...any) {
	t.Helper()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re, msg...)
	assert.Equal(t, code, re.ErrorCode, msg...)
	if description != "" {
		assert.Equal(t, description, re.ErrorDescription, msg...)
	}
}

func TestTokenEndpointChecksClient(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{ClientID: "app", ClientSecret: "s3cret"})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	refresh := srv.IssueToken(account).RefreshToken
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		cfg := srv.OAuthConfig("https://app.example/cb")
		cfg.Endpoint.AuthStyle = style
		_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
		require.NoError(t, err, "style %d", style)
		cfg.ClientSecret = "wrong"
		_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
		requireOAuthError(t, err, "invalid_client", "")
	}
}

func TestConsentValidates(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	good := srv.OAuthConfig("https://app.example/cb").AuthCodeURL("s")
	for name, edit := range map[string]func(url.Values){
		"client":        func(q url.Values) { q.Set("client_id", "other") },
		"redirect":      func(q url.Values) { q.Del("redirect_uri") },
		"response type": func(q url.Values) { q.Set("response_type", "token") },
		"scope":         func(q url.Values) { q.Del("scope") },
		"pkce method":   func(q url.Values) { q.Set("code_challenge", "x"); q.Set("code_challenge_method", "S512") },
	} {
		u, _ := url.Parse(good)
		q := u.Query()
		edit(q)
		u.RawQuery = q.Encode()
		_, _, err := srv.Consent(t.Context(), u.String())
		assert.Error(t, err, name)
	}
	srv.SetAccount("dr-who@clinic.example")
	code, _, err := srv.Consent(t.Context(), good)
	require.NoError(t, err)
	tok, err := srv.OAuthConfig("https://app.example/cb").Exchange(
		context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client()), code)
	require.NoError(t, err)
	assert.Empty(t, tok.RefreshToken, "no refresh token without access_type=offline")
	assert.Equal(t, "dr-who@clinic.example", srv.Requests()[len(srv.Requests())-1].Account)
}

func TestRevokeEndpoint(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	tok := srv.IssueToken(account)
	post := func(token string) int {
		resp, err := srv.Client().PostForm(srv.RevokeURL(), url.Values{"token": {token}})
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, post(tok.AccessToken), "an access token revokes its grant")
	assert.Equal(t, http.StatusBadRequest, post(tok.AccessToken))
	_, err := srv.OAuthConfig("x").TokenSource(context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client()),
		&oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	requireOAuthError(t, err, "invalid_grant", "")
}

func TestFaults(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	insert := func(id string) error {
		_, err := f.svc.Events.Insert("primary", event(id, day, time.Hour)).Do()
		return err
	}
	f.srv.Fail(gcaltest.Fault{Status: 503, Times: 2})
	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 403, Reason: "rateLimitExceeded", RetryAfter: "30"})

	for range 2 {
		ge := googleErr(t, insert(""))
		assert.Equal(t, 503, ge.Code)
		assert.Equal(t, "backendError", ge.Errors[0].Reason)
	}
	ge := googleErr(t, insert(""))
	assert.Equal(t, 403, ge.Code)
	assert.Equal(t, "rateLimitExceeded", ge.Errors[0].Reason)
	assert.Equal(t, "30", ge.Header.Get("Retry-After"))
	require.NoError(t, insert(""))
	assert.Len(t, f.srv.Events("primary"), 1, "failed requests did nothing")

	// Commit then fail: the event exists, the client never heard.
	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 502, Commit: true})
	assert.Equal(t, 502, googleErr(t, insert("committed01")).Code)
	_, ok := f.srv.Event("primary", "committed01")
	assert.True(t, ok)

	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Drop: true, Commit: true})
	err := insert("committed02")
	require.Error(t, err)
	var ue *url.Error
	assert.ErrorAs(t, err, &ue, "a dropped connection is a transport error")
	_, ok = f.srv.Event("primary", "committed02")
	assert.True(t, ok)

	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpList, Status: 500, Times: -1})
	for range 3 {
		_, err := f.svc.Events.List("primary").Do()
		assert.Equal(t, 500, googleErr(t, err).Code)
	}
	f.srv.ClearFaults()
	_, err = f.svc.Events.List("primary").Do()
	require.NoError(t, err)

	var faulted []int
	for _, r := range f.srv.Requests() {
		if r.Faulted {
			faulted = append(faulted, r.Status)
		}
	}
	assert.Equal(t, []int{503, 503, 403, 502, 0, 500, 500, 500}, faulted)
}

func TestTokenEndpointFaults(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := srv.OAuthConfig("x")
	refresh := srv.IssueToken(account).RefreshToken
	srv.Fail(gcaltest.Fault{Status: 500}) // any Calendar API request: not the token endpoint
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 503})
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 400, Reason: "invalid_grant", Message: "Bad Request"})
	_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 503, re.Response.StatusCode)
	assert.Equal(t, "server_error", re.ErrorCode)
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	requireOAuthError(t, err, "invalid_grant", "Bad Request")
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	require.NoError(t, err)
	for _, r := range srv.Requests() {
		assert.Equal(t, "refresh_token", r.Grant)
	}
	resp, err := srv.Client().Get(srv.URL() + "calendars/primary/events")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 500, resp.StatusCode, "the Calendar API fault was left for a Calendar API request")
}

func TestInMemoryUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, gcaltest.Options{InMemory: true})
		assert.True(t, strings.HasPrefix(f.srv.URL(), "http://gcaltest.invalid/"))
		f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: 90 * time.Second})
		start := time.Now()
		_, err := f.svc.Events.Insert("primary", event("", day, time.Hour)).Do()
		require.NoError(t, err)
		assert.Equal(t, 90*time.Second, time.Since(start), "the delay runs on the bubble's clock")

		// The client gives up; the server stops waiting too.
		f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = f.svc.Events.Insert("primary", event("", day, time.Hour)).Context(ctx).Do()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		synctest.Wait()
		assert.Len(t, f.srv.Events("primary"), 2, "the abandoned request was served when the client left")

		f.srv.Close()
		_, err = f.svc.Events.List("primary").Do()
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "a closed server refuses connections: %v", err)
	})
}
