package gcal_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
)

// TestNoTokenInLogsOrAudit runs the whole life cycle and looks for every
// token the fake issued in the logs and the audit entries.
func TestNoTokenInLogsOrAudit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		time.Sleep(time.Hour)
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		e.srv.ExpireAccessTokens()
		_, err = e.client.Book(t.Context(), org, booking("b"))
		require.NoError(t, err)
		e.srv.Revoke(l.Token.RefreshToken)
		_, err = e.client.Book(t.Context(), org, booking("c"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		authURL, err := e.client.AuthURL(org)
		require.NoError(t, err)
		code, state, err := e.srv.Consent(t.Context(), authURL)
		require.NoError(t, err)
		linked, err := e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err)
		require.NoError(t, e.client.Unlink(t.Context(), org))

		secrets := []string{l.Token.RefreshToken, linked.Token.RefreshToken, linked.Token.AccessToken, code}
		for _, r := range e.srv.Requests() {
			if r.AccessToken != "" {
				secrets = append(secrets, r.AccessToken)
			}
		}
		logs := e.logs.String()
		require.NotEmpty(t, logs)
		var audit strings.Builder
		for _, a := range e.audit.all() {
			audit.WriteString(a.OrgID + " " + string(a.Event) + " " + a.Detail + "\n")
		}
		for _, s := range secrets {
			assert.NotContains(t, logs, s)
			assert.NotContains(t, audit.String(), s)
		}
		assert.Subset(t, e.audit.events(org), []gcal.AuditEvent{
			gcal.AuditLoaded, gcal.AuditRefreshed, gcal.AuditSaved, gcal.AuditRefused,
			gcal.AuditRelinked, gcal.AuditUnlinked,
		})
	})
}
