package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

// everyone shows details to every request.
func everyone(*http.Request) bool { return true }

// TestDetailsHiddenByDefault: with neither WithDetails nor WithoutDetails,
// nobody sees details, in either format.
func TestDetailsHiddenByDefault(t *testing.T) {
	agg := health.New(seedChecks(), health.WithClock(fixedClock))
	for _, accept := range []string{"application/json", "application/health+json"} {
		rec := get(t, agg, "/?verbose=1", "Accept", accept)
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.NotContains(t, rec.Body.String(), "expiresInSeconds", accept)
		assert.NotContains(t, rec.Body.String(), "details", accept)
		assert.NotContains(t, rec.Body.String(), "observedValue", accept)
	}
}

func TestServeHTTPDetails(t *testing.T) {
	authenticated := func(r *http.Request) bool { return r.Header.Get("Authorization") != "" }
	tests := []struct {
		name        string
		opts        []health.Option
		target      string
		header      []string
		wantDetails bool
	}{
		{"default hides details", nil, "/", nil, false},
		{"verbose=1 cannot show details by default", nil, "/?verbose=1", nil, false},
		{"WithDetails(nil) shows none", []health.Option{health.WithDetails(nil)}, "/", nil, false},
		{"WithDetails for everyone", []health.Option{health.WithDetails(everyone)}, "/", nil, true},
		{"verbose=1 with details shown", []health.Option{health.WithDetails(everyone)}, "/?verbose=1", nil, true},
		{"verbose=0 hides details", []health.Option{health.WithDetails(everyone)}, "/?verbose=0", nil, false},
		{"verbose=false hides details", []health.Option{health.WithDetails(everyone)}, "/?x=y&verbose=false", nil, false},
		{"WithoutDetails hides details", []health.Option{health.WithoutDetails()}, "/", nil, false},
		{"verbose=1 cannot override WithoutDetails", []health.Option{health.WithoutDetails()}, "/?verbose=1", nil, false},
		{"WithDetails rejects anonymous", []health.Option{health.WithDetails(authenticated)}, "/", nil, false},
		{"WithDetails admits authenticated", []health.Option{health.WithDetails(authenticated)}, "/",
			[]string{"Authorization", "Bearer x"}, true},
		{"verbose=0 wins over WithDetails", []health.Option{health.WithDetails(authenticated)}, "/?verbose=0",
			[]string{"Authorization", "Bearer x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agg := health.New(seedChecks(), tt.opts...)
			rec := get(t, agg, tt.target, tt.header...)
			var r health.Report
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
			if tt.wantDetails {
				assert.Equal(t, map[string]any{"expiresInSeconds": 250.0}, r.Integrations[1].Details)
			} else {
				assert.Nil(t, r.Integrations[1].Details)
				assert.NotContains(t, rec.Body.String(), "details")
			}
			assert.Equal(t, "Google Calendar token expiring soon", r.Integrations[1].Message, "messages stay")
		})
	}
}

func TestServeHTTPHidesErrorTextWithoutDetails(t *testing.T) {
	// The driver error names a host and a port; an anonymous caller must not
	// see it, in either format.
	ping := func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") }
	agg := health.New([]health.Check{health.FromError("Database", ping, health.AsCritical())}, health.WithDetails(everyone))
	for _, accept := range []string{"application/json", "application/health+json"} {
		rec := get(t, agg, "/?verbose=0", "Accept", accept)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.NotContains(t, rec.Body.String(), "10.0.0.5", accept)
	}
	rec := get(t, agg, "/")
	assert.Contains(t, rec.Body.String(), `"error":"dial tcp [ip]:5432: connection refused"`,
		"operators allowed details see the error, redacted")
}

// TestPanicsAndDriverErrorsNeverGoOutVerbatim: even to callers that may see
// details, panic values, driver errors and check messages are redacted: no
// password, user name, internal address or key leaves the process, in
// either format or in the log, while the text that says what failed stays.
func TestPanicsAndDriverErrorsNeverGoOutVerbatim(t *testing.T) {
	synctest.Test(t, testPanicsAndDriverErrorsNeverGoOutVerbatim)
}

func testPanicsAndDriverErrorsNeverGoOutVerbatim(t *testing.T) {
	var logs bytes.Buffer
	agg := health.New([]health.Check{
		{Name: "panics", Func: func(context.Context) health.Result {
			panic(errors.New(`connect postgres://app:s3cret@10.0.0.5:5432/clinic: password authentication failed for user "alice"`))
		}},
		health.FromError("maps", func(context.Context) error {
			return errors.New(`Get "https://maps.example.com/v1/geo?key=AIzaSyD-k3y": dial tcp 10.0.0.7:443: i/o timeout`)
		}),
		{Name: "message", Func: func(context.Context) health.Result {
			return health.Result{Status: health.Degraded,
				Message:        "lookup db.internal on 10.0.0.2:53: no such host (user=app, owner dr.jones@clinic.example.org)",
				Recommendation: "call +15551234567"}
		}},
	}, health.WithDetails(everyone), health.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	secrets := []string{"s3cret", "10.0.0.5", "alice", "AIzaSyD-k3y", "10.0.0.7", "db.internal", "10.0.0.2",
		"user=app", "dr.jones", "5551234567"}
	for _, accept := range []string{"application/json", "application/health+json"} {
		body := get(t, agg, "/", "Accept", accept).Body.String()
		for _, s := range secrets {
			assert.NotContains(t, body, s, accept)
		}
		for _, kept := range []string{"password authentication failed for user", "https://maps.example.com/v1/geo?key=[redacted]",
			"i/o timeout", "no such host"} {
			assert.Contains(t, body, kept, accept)
		}
	}
	synctest.Wait() // status changes are logged after the run
	assert.Contains(t, logs.String(), "health check panicked")
	for _, s := range secrets {
		assert.NotContains(t, logs.String(), s, "log")
	}
}
