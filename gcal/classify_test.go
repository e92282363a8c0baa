package gcal_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/safecall"
)

func apiErr(code int, reasons ...string) *googleapi.Error {
	e := &googleapi.Error{Code: code, Message: http.StatusText(code)}
	for _, r := range reasons {
		e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: r})
	}
	return e
}

func tokenErr(status int, code string) *oauth2.RetrieveError {
	return &oauth2.RetrieveError{Response: &http.Response{StatusCode: status}, ErrorCode: code}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want safecall.Class
	}{
		{"nil", nil, safecall.Unknown},
		{"401", apiErr(401, "authError"), safecall.Auth},
		{"403 rateLimitExceeded", apiErr(403, "rateLimitExceeded"), safecall.RateLimit},
		{"403 userRateLimitExceeded", apiErr(403, "userRateLimitExceeded"), safecall.RateLimit},
		{"403 quotaExceeded", apiErr(403, "quotaExceeded"), safecall.RateLimit},
		{"403 dailyLimitExceeded", apiErr(403, "dailyLimitExceeded"), safecall.RateLimit},
		{"403 second reason rate limit", apiErr(403, "other", "rateLimitExceeded"), safecall.RateLimit},
		{"403 forbidden", apiErr(403, "forbidden"), safecall.Permanent},
		{"403 forbiddenForNonOrganizer", apiErr(403, "forbiddenForNonOrganizer"), safecall.Permanent},
		{"403 no reason", apiErr(403), safecall.Permanent},
		{"429", apiErr(429, "rateLimitExceeded"), safecall.RateLimit},
		{"429 no reason", apiErr(429), safecall.RateLimit},
		{"400", apiErr(400, "invalid"), safecall.Permanent},
		{"400 rate-limit reason", apiErr(400, "rateLimitExceeded"), safecall.Permanent},
		{"404", apiErr(404, "notFound"), safecall.Permanent},
		{"409", apiErr(409, "duplicate"), safecall.Permanent},
		{"410", apiErr(410, "deleted"), safecall.Permanent},
		{"412", apiErr(412, "conditionNotMet"), safecall.Permanent},
		{"408", apiErr(408), safecall.Temporary},
		{"500", apiErr(500, "backendError"), safecall.Temporary},
		{"502", apiErr(502), safecall.Temporary},
		{"503", apiErr(503), safecall.Temporary},
		{"504", apiErr(504), safecall.Temporary},
		{"501", apiErr(501), safecall.Permanent},
		{"wrapped 503", fmt.Errorf("book: %w", apiErr(503)), safecall.Temporary},
		{"token invalid_grant", tokenErr(400, "invalid_grant"), safecall.Auth},
		{"token invalid_grant on 200", tokenErr(200, "invalid_grant"), safecall.Auth},
		{"token invalid_client", tokenErr(401, "invalid_client"), safecall.Auth},
		{"token invalid_request", tokenErr(400, "invalid_request"), safecall.Permanent},
		{"token 429", tokenErr(429, ""), safecall.RateLimit},
		{"token 500", tokenErr(500, "server_error"), safecall.Temporary},
		{"token 503", tokenErr(503, ""), safecall.Temporary},
		{"token no response", &oauth2.RetrieveError{ErrorCode: "x"}, safecall.Unknown},
		{"not linked", gcal.ErrNotLinked, safecall.Auth},
		{"relink", &gcal.RelinkError{OrgID: "o", Reason: "r"}, safecall.Auth},
		{"invalid booking", gcal.ErrInvalidBooking, safecall.Permanent},
		{"invalid state", gcal.ErrInvalidState, safecall.Permanent},
		{"expired state", gcal.ErrStateExpired, safecall.Permanent},
		{"used state", gcal.ErrStateUsed, safecall.Permanent},
		{"no state key", gcal.ErrNoStateKey, safecall.Permanent},
		{"no refresh token", gcal.ErrNoRefreshToken, safecall.Permanent},
		{"invalid link", gcal.ErrInvalidLink, safecall.Permanent},
		{"conflict", gcal.ErrConflict, safecall.Temporary},
		{"canceled", context.Canceled, safecall.Canceled},
		{"deadline", context.DeadlineExceeded, safecall.Temporary},
		{"reset", syscall.ECONNRESET, safecall.Network},
		{"breaker open", &breaker.OpenError{Key: "o"}, safecall.CircuitOpen},
		{"marked", safecall.Mark(errors.New("x"), safecall.Permanent), safecall.Permanent},
		{"other", errors.New("x"), safecall.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, gcal.Classify(tt.err))
		})
	}
}

// TestClassifyRealErrors classifies the errors the real SDKs make of the
// fake's answers, Retry-After included.
func TestClassifyRealErrors(t *testing.T) {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := t.Context()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()), option.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	tok := srv.IssueToken(gcaltest.DefaultAccount)
	insert := func() error {
		start := "2026-12-01T09:00:00Z"
		call := svc.Events.Insert("primary", &calendar.Event{
			Start: &calendar.EventDateTime{DateTime: start},
			End:   &calendar.EventDateTime{DateTime: "2026-12-01T10:00:00Z"},
		})
		call.Header().Set("Authorization", "Bearer "+tok.AccessToken)
		_, err := call.Do()
		return err
	}

	for _, tt := range []struct {
		fault gcaltest.Fault
		want  safecall.Class
	}{
		{gcaltest.Fault{Status: 403, Reason: "rateLimitExceeded", RetryAfter: "12"}, safecall.RateLimit},
		{gcaltest.Fault{Status: 403, Reason: "forbidden"}, safecall.Permanent},
		{gcaltest.Fault{Status: 429}, safecall.RateLimit},
		{gcaltest.Fault{Status: 503}, safecall.Temporary},
		{gcaltest.Fault{Status: 401}, safecall.Auth},
		{gcaltest.Fault{Drop: true}, safecall.Network},
	} {
		srv.Fail(tt.fault)
		err := insert()
		require.Error(t, err)
		assert.Equal(t, tt.want, gcal.Classify(err), "%+v: %v", tt.fault, err)
		var ge *googleapi.Error
		if tt.fault.Status != 0 {
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, tt.fault.Status, ge.Code)
			require.NotEmpty(t, ge.Errors)
			if tt.fault.Reason != "" {
				assert.Equal(t, tt.fault.Reason, ge.Errors[0].Reason)
			}
			assert.Equal(t, tt.fault.RetryAfter, ge.Header.Get("Retry-After"))
		}
	}

	cfg := srv.OAuthConfig("https://app.example/cb")
	tctx := context.WithValue(ctx, oauth2.HTTPClient, srv.Client())
	srv.Revoke(tok.RefreshToken)
	_, err = cfg.TokenSource(tctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	assert.Equal(t, "Token has been expired or revoked.", re.ErrorDescription)
	assert.Equal(t, safecall.Auth, gcal.Classify(err))

	srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 503})
	_, err = cfg.TokenSource(tctx, &oauth2.Token{RefreshToken: srv.IssueToken("x").RefreshToken}).Token()
	require.ErrorAs(t, err, &re)
	assert.Equal(t, safecall.Temporary, gcal.Classify(err))
}
