package gcaltest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/gcal/gcaltest"
)

func TestConsentApprovesAsTheLoginHint(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	cfg := srv.OAuthConfig("https://app.example/cb")
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())

	for _, tc := range []struct{ hint, want string }{
		{"clinic-a@sandbox.example", "clinic-a@sandbox.example"},
		{"", account},
	} {
		opts := []oauth2.AuthCodeOption{oauth2.AccessTypeOffline}
		if tc.hint != "" {
			opts = append(opts, oauth2.SetAuthURLParam("login_hint", tc.hint))
		}
		code, _, err := srv.Consent(ctx, cfg.AuthCodeURL("s", opts...))
		require.NoError(t, err)
		tok, err := cfg.Exchange(ctx, code)
		require.NoError(t, err)
		hc := cfg.Client(ctx, tok)
		svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()), option.WithHTTPClient(hc))
		require.NoError(t, err)
		_, err = svc.Events.Insert("primary", event("", day, time.Hour)).Do()
		require.NoError(t, err)
		assert.Len(t, srv.Events(tc.want), 1, "the event is in %s's primary calendar", tc.want)
	}
	var approved []string
	for _, r := range srv.Requests() {
		if r.Op == gcaltest.OpConsent {
			approved = append(approved, r.Account)
		}
	}
	assert.Equal(t, []string{"clinic-a@sandbox.example", account}, approved)
}

func TestFaultForOneAccount(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := srv.OAuthConfig("https://app.example/cb")
	a, b := srv.IssueToken("a@clinic.example"), srv.IssueToken("b@clinic.example")
	service := func(tok *oauth2.Token) *calendar.Service {
		svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()),
			option.WithHTTPClient(oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))))
		require.NoError(t, err)
		return svc
	}
	svcA, svcB := service(a), service(b)

	srv.Fail(gcaltest.Fault{Status: 503, Times: -1, Account: "a@clinic.example"})
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 400, Reason: "invalid_grant", Times: -1, Account: "a@clinic.example"})
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpConsent, Reason: "access_denied", Account: "a@clinic.example"})

	for range 3 {
		_, err := svcA.Events.List("primary").Do()
		assert.Equal(t, 503, googleErr(t, err).Code, "a's outage")
		_, err = svcB.Events.List("primary").Do()
		require.NoError(t, err, "b is untouched")
	}
	_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: a.RefreshToken}).Token()
	requireOAuthError(t, err, "invalid_grant", "")
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: b.RefreshToken}).Token()
	require.NoError(t, err)

	_, _, err = srv.Consent(ctx, cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("login_hint", "b@clinic.example")))
	require.NoError(t, err)
	_, _, err = srv.Consent(ctx, cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("login_hint", "a@clinic.example")))
	var ce *gcaltest.ConsentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "access_denied", ce.Code)

	var faulted []string
	for _, r := range srv.Requests() {
		if r.Faulted {
			faulted = append(faulted, r.Account)
		}
	}
	assert.Equal(t, []string{"a@clinic.example", "a@clinic.example", "a@clinic.example", "a@clinic.example", "a@clinic.example"}, faulted,
		"the log names the account of faulted requests too")

	srv.Fail(gcaltest.Fault{Status: 500, Times: -1, Account: "b@clinic.example"})
	srv.ClearAccountFaults("a@clinic.example")
	_, err = svcA.Events.List("primary").Do()
	require.NoError(t, err, "a's outage is over")
	_, err = svcB.Events.List("primary").Do()
	assert.Equal(t, 500, googleErr(t, err).Code, "b's fault stays")
}
