package twilioguard_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// Through rate limits, refusals, lost answers, listing failures and
// callbacks, the logs, audit entries and error texts name the org, the key,
// the masked number and codes: never the number, the body, the token or
// Twilio's error text.
func TestLogsAuditAndErrorsHoldNoSecrets(t *testing.T) {
	e, _ := callbackEnv(t, twilioguard.WithBreakers(breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 20})))
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	e.fake.Script(clinic,
		twiliotest.Fault{Status: 429, RetryAfter: "1"},
		twiliotest.Fault{Accept: true, Status: 500},
		twiliotest.Fault{Op: twiliotest.List, Status: 503, Times: 3},
	)
	var errs []string
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	errs = append(errs, fmt.Sprint(err))
	d, err = e.guard.Send(t.Context(), msg("org-1", "appt-1")) // reconciles
	require.NoError(t, err)
	for _, to := range []string{twiliotest.ToInvalid, twiliotest.ToBlocked} {
		m := msg("org-1", "refused-"+to[len(to)-1:])
		m.To = to
		_, err := e.guard.Send(t.Context(), m)
		require.Error(t, err)
		errs = append(errs, err.Error())
	}
	require.NoError(t, e.fake.Advance(t.Context(), d.SID, 30003, "sent", "undelivered"))

	logs := e.logs.String()
	require.NotEmpty(t, logs)
	for _, want := range []string{`"event":"lost"`, `"event":"reconciled"`, `"event":"rejected"`,
		`"event":"status"`, `"code":20429`, `"code":21610`, `"to":"+1******4567"`,
		`"level":"DEBUG","msg":"twilioguard: attempt"`, `"level":"WARN","msg":"twilioguard: failed"`,
		`"level":"WARN","msg":"twilioguard: lost"`, `"level":"WARN","msg":"twilioguard: rejected"`,
		`"level":"INFO","msg":"twilioguard: reconciled"`, `"level":"DEBUG","msg":"twilioguard: status"`,
		`"level":"WARN","msg":"twilioguard: reconcile failed"`} {
		assert.Contains(t, logs, want)
	}
	var audit strings.Builder
	for _, en := range e.audit.all() {
		fmt.Fprintf(&audit, "%+v\n", en)
	}
	for _, text := range []string{logs, audit.String(), strings.Join(errs, "\n")} {
		requireNoSecrets(t, e, text)
		assert.NotContains(t, text, twiliotest.ToInvalid)
		assert.NotContains(t, text, twiliotest.ToBlocked)
	}
	got, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Undelivered, got.Status)
	assert.Equal(t, 30003, got.ErrorCode)
}
