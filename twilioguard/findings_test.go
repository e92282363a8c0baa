package twilioguard_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
)

// Found by FuzzSendClassifiesTwilioAnswers: an answer whose JSON body
// claims another status than the HTTP one (encoding/json matches "stAtus"
// too) was classified by the body's claim, so a 5xx could be Permanent
// (never retried) and a 4xx Temporary. The HTTP status is what happened.
func TestClassifyTrustsTheHTTPStatusOverTheBodysStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   safecall.Class
	}{
		{503, `{"status": 400}`, safecall.Temporary},
		{473, `{"stAtus":500}`, safecall.Permanent},
		{400, `{"status": 503, "code": 0}`, safecall.Permanent},
		{429, `{"status": 400, "message": "slow down"}`, safecall.RateLimit},
		{500, `{"status": 401}`, safecall.Temporary},
	} {
		tr := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return answer(req, tc.status, []byte(tc.body), ""), nil
		})
		_, err := fuzzGuard(t, tr, twilioguard.Config{}).Send(t.Context(), msg("org", "appt-1"))
		var e *twilioguard.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, tc.want, e.Class, "HTTP %d, body %s", tc.status, tc.body)
		assert.Equal(t, tc.want, twilioguard.Classify(err), "HTTP %d, body %s", tc.status, tc.body)
	}
}
