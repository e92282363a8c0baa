package gcal_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/health"
)

func TestCheckCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		check := e.client.Check("Google Calendar")
		assert.Equal(t, "Google Calendar", check.Name)
		assert.False(t, check.Critical)
		r := check.Func(t.Context())
		assert.Equal(t, health.Healthy, r.Status)
		assert.Equal(t, 0, r.Details["linked"])

		for _, o := range []string{"clinic-a", "clinic-b", "clinic-c"} {
			e.link(o)
		}
		revoked := e.stored("clinic-c")
		e.srv.Revoke(revoked.Token.RefreshToken)
		for _, o := range []string{"clinic-a", "clinic-b", "clinic-c"} {
			_, _ = e.client.Book(t.Context(), o, booking("k"))
		}
		_, _ = e.client.Book(t.Context(), "clinic-unknown", booking("k"))
		requests := len(e.srv.Requests())

		r = check.Func(t.Context())
		assert.Equal(t, health.Degraded, r.Status)
		assert.Equal(t, map[string]any{"linked": 2, "expiring": 0, "relinkRequired": 1, "refreshFailing": 0}, r.Details)
		assert.Equal(t, "2 calendar links working; 1 must be linked again", r.Message)
		assert.NotEmpty(t, r.Recommendation)
		for _, o := range []string{"clinic-a", "clinic-b", "clinic-c"} {
			assert.NotContains(t, r.Message+r.Recommendation, o)
		}

		time.Sleep(56 * time.Minute)
		r = check.Func(t.Context())
		assert.Equal(t, 2, r.Details["expiring"], "tokens within the skew, refreshed on next use")
		assert.Equal(t, requests, len(e.srv.Requests()), "no network call")

		require.NoError(t, e.client.Unlink(t.Context(), "clinic-b"))
		assert.Equal(t, gcal.LinkCounts{Linked: 1, Expiring: 1, RelinkRequired: 1}, e.client.Counts())
	})
}

type failingAudit struct{}

func (failingAudit) Audit(context.Context, gcal.AuditEntry) error {
	return errors.New("audit table locked")
}

// TestAuditFailureDoesNotStopBookings: the audit log being down is logged,
// and the booking goes on.
func TestAuditFailureDoesNotStopBookings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		client := e.newClient(e.store, gcal.WithAudit(failingAudit{}))
		_, err := client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Contains(t, e.logs.String(), "audit table locked")
	})
}
