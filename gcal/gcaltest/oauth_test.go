package gcaltest_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/gcal/gcaltest"
)

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
