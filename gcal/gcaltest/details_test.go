package gcaltest_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

func TestMemoryStoreMeetsContract(t *testing.T) {
	gcaltest.TestTokenStore(t, func(*testing.T) gcal.TokenStore { return &gcal.MemoryStore{} })
}

func TestRequestLogStatuses(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	_, err := f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	require.NoError(t, err)
	_, err = f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	require.Error(t, err)
	_, err = f.svc.Events.Get("primary", "nosuchevent").Do()
	require.Error(t, err)
	require.NoError(t, f.svc.Events.Delete("primary", "booking00001").Do())
	require.Error(t, f.svc.Events.Delete("primary", "booking00001").Do())

	var got []int
	for _, r := range f.srv.Requests() {
		got = append(got, r.Status)
		assert.False(t, r.Faulted)
		assert.Equal(t, account, r.Account)
		assert.Equal(t, f.tok.AccessToken, r.AccessToken)
	}
	assert.Equal(t, []int{200, 409, 404, 204, 410}, got)
	assert.Equal(t, 2, f.srv.Count(gcaltest.OpInsert))
	assert.Equal(t, 2, f.srv.Count(gcaltest.OpDelete))
}

func TestEventStamps(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	a, err := f.svc.Events.Insert("primary", event("", day, time.Hour)).Do()
	require.NoError(t, err)
	b, err := f.svc.Events.Insert("front-desk@clinic.example", event("", day, time.Hour)).Do()
	require.NoError(t, err)
	assert.NotEqual(t, a.Etag, b.Etag)
	assert.True(t, a.Organizer.Self, "the account's own calendar")
	assert.Equal(t, account, a.Organizer.Email)
	assert.False(t, b.Organizer.Self)
	assert.Equal(t, "front-desk@clinic.example", b.Organizer.Email)
	assert.Equal(t, account, b.Creator.Email)

	require.NoError(t, f.svc.Events.Delete("primary", a.Id).Do())
	gone, err := f.svc.Events.Get("primary", a.Id).Do()
	require.NoError(t, err)
	assert.NotEqual(t, a.Etag, gone.Etag, "a change changes the etag")
}

func TestEventIDRules(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for id, valid := range map[string]bool{
		"abcd":                    false, // 4 characters
		"abcde":                   true,
		strings.Repeat("a", 1024): true,
		strings.Repeat("a", 1025): false,
		"0000v":                   true,
		"9999a":                   true,
		"0000w":                   false,
		"0000/":                   false, // just below '0'
		"0000:":                   false, // just above '9'
		"0000`":                   false, // just below 'a'
	} {
		_, err := f.svc.Events.Insert("primary", event(id, day, time.Hour)).Do()
		if valid {
			assert.NoError(t, err, "%q", id[:min(len(id), 8)])
		} else {
			assert.Equal(t, "invalid", googleErr(t, err).Errors[0].Reason, "%q", id[:min(len(id), 8)])
		}
	}
}

func TestListPageBoundaries(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for h := range 2 {
		_, err := f.svc.Events.Insert("primary", event("", day.Add(time.Duration(h)*time.Hour), time.Hour)).Do()
		require.NoError(t, err)
	}
	page, err := f.svc.Events.List("primary").MaxResults(2).Do()
	require.NoError(t, err)
	assert.Len(t, page.Items, 2)
	assert.Empty(t, page.NextPageToken, "an exact page has no next one")
	page, err = f.svc.Events.List("primary").MaxResults(1).Do()
	require.NoError(t, err)
	assert.Len(t, page.Items, 1)
	assert.Equal(t, "1", page.NextPageToken)
	page, err = f.svc.Events.List("primary").PageToken("2").Do()
	require.NoError(t, err)
	assert.Empty(t, page.Items)
	_, err = f.svc.Events.List("primary").MaxResults(0).Do()
	assert.Equal(t, 400, googleErr(t, err).Code, "maxResults below 1 is invalid")
}

func TestRevokeAccessTokenWithoutGrant(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := srv.OAuthConfig("https://app.example/cb")
	code, _, err := srv.Consent(ctx, cfg.AuthCodeURL("s")) // online access: no refresh token
	require.NoError(t, err)
	tok, err := cfg.Exchange(ctx, code)
	require.NoError(t, err)
	require.Empty(t, tok.RefreshToken)
	assert.True(t, srv.Revoke(tok.AccessToken))
	assert.False(t, srv.Revoke(tok.AccessToken), "already revoked")
}

func TestPKCEPlainByDefault(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := srv.OAuthConfig("https://app.example/cb")
	verifier := oauth2.GenerateVerifier()
	code, _, err := srv.Consent(ctx, cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", verifier)))
	require.NoError(t, err)
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err, "a challenge without a method is plain")
}

func TestConsentDelayOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := gcaltest.NewServer(gcaltest.Options{InMemory: true})
		defer srv.Close()
		srv.Fail(gcaltest.Fault{Op: gcaltest.OpConsent, Delay: 3 * time.Second})
		start := time.Now()
		code, state, err := srv.Consent(t.Context(), srv.OAuthConfig("https://app.example/cb").AuthCodeURL("s"))
		require.NoError(t, err)
		assert.NotEmpty(t, code)
		assert.Equal(t, "s", state)
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestAddEventAndEvents(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	added := srv.AddEvent("primary", &calendar.Event{
		Summary: "Lunch",
		Start:   &calendar.EventDateTime{Date: "2026-12-01"},
		End:     &calendar.EventDateTime{Date: "2026-12-02"},
	})
	assert.NotEmpty(t, added.Id)
	got, ok := srv.Event(gcaltest.DefaultAccount, added.Id)
	require.True(t, ok)
	assert.Equal(t, "Lunch", got.Summary)
	got.Summary = "changed"
	again, _ := srv.Event("primary", added.Id)
	assert.Equal(t, "Lunch", again.Summary, "copies")
	_, ok = srv.Event("primary", "nosuchevent")
	assert.False(t, ok)
}

func TestListOrder(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for _, e := range []struct {
		id   string
		hour int
	}{{"event0000c", 8}, {"event0000b", 9}, {"event0000a", 10}, {"event0000e", 9}, {"event0000d", 9}} {
		_, err := f.svc.Events.Insert("primary", event(e.id, day.Add(time.Duration(e.hour)*time.Hour), time.Hour)).Do()
		require.NoError(t, err)
	}
	list, err := f.svc.Events.List("primary").Do()
	require.NoError(t, err)
	var ids []string
	for _, e := range list.Items {
		ids = append(ids, e.Id)
	}
	assert.Equal(t, []string{"event0000c", "event0000b", "event0000d", "event0000e", "event0000a"}, ids,
		"by start, then id")
}

func TestRevokeOneGrantOnly(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	other := f.srv.IssueToken(account)
	require.True(t, f.srv.Revoke(other.RefreshToken))
	_, err := f.svc.Events.List("primary").Do()
	require.NoError(t, err, "another grant's access token still works")
	f.srv.Revoke(f.tok.RefreshToken)
	_, err = f.svc.Events.List("primary").Do()
	require.Error(t, err, "a revoked grant's access tokens are refused")
}

func TestTokenFaultRetryAfter(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	refresh := srv.IssueToken(account).RefreshToken
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 429, RetryAfter: "7"})
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 503})
	var re *oauth2.RetrieveError
	_, err := srv.OAuthConfig("x").TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "rate_limit_exceeded", re.ErrorCode)
	assert.Equal(t, []string{"7"}, re.Response.Header.Values("Retry-After"))
	_, err = srv.OAuthConfig("x").TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	require.ErrorAs(t, err, &re)
	assert.Empty(t, re.Response.Header.Values("Retry-After"))
}
