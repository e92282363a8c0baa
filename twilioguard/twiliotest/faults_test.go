package twiliotest_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// post sends a raw create request and returns the response, so that
// headers and bodies can be checked byte for byte.
func post(t *testing.T, s *twiliotest.Server, from string) (*http.Response, string, error) {
	t.Helper()
	form := url.Values{"From": {from}, "To": {patient}, "Body": {"hi"}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json",
		strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b), nil
}

func TestScriptedStatusWithRetryAfter(t *testing.T) {
	s := newServer(t)
	s.Script(clinic, twiliotest.Fault{Status: 429, RetryAfter: "3", Times: 2})

	for range 2 {
		resp, body, err := post(t, s, clinic)
		require.NoError(t, err)
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "3", resp.Header.Get("Retry-After"))
		assert.JSONEq(t, `{"code":20429,"message":"Too Many Requests",`+
			`"more_info":"https://www.twilio.com/docs/errors/20429","status":429}`, body)
	}
	resp, _, err := post(t, s, clinic)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode, "the fault is spent after Times requests")
	assert.Len(t, s.Messages(), 1)

	log := s.Requests()
	require.Len(t, log, 3)
	assert.True(t, log[0].Fault)
	assert.Equal(t, 429, log[0].Status)
	assert.Equal(t, clinic, log[0].Sender)
	assert.Equal(t, "hi", log[0].Params.Get("Body"))
	assert.False(t, log[2].Fault)
}

func TestFaultsApplyOnlyToTheirSenderAndOp(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	s.Script(clinic, twiliotest.Fault{Op: twiliotest.List, Status: 503})

	_, err := send(api, "+15557770000", patient, "other clinic")
	require.NoError(t, err)
	_, err = send(api, clinic, patient, "creates are not scripted")
	require.NoError(t, err)
	_, err = api.ListMessage((&openapi.ListMessageParams{}).SetTo(patient))
	require.NoError(t, err, "a list without From is not this sender's")
	_, err = api.ListMessage((&openapi.ListMessageParams{}).SetFrom(clinic))
	te := restError(t, err)
	assert.Equal(t, 20503, te.Code)
	assert.Equal(t, 503, te.Status)
}

func TestAcceptThenFailCreatesTheMessage(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	s.Script(clinic, twiliotest.Fault{Accept: true, Status: 500})

	_, err := send(api, clinic, patient, "lost answer")
	te := restError(t, err)
	assert.Equal(t, 20500, te.Code)
	require.Len(t, s.Messages(), 1, "the message was created before the 500")
	assert.Equal(t, "lost answer", s.Messages()[0].Body)
}

func TestHTMLAnswerIsUndecodableForTwilioGo(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	s.Script(clinic, twiliotest.Fault{HTML: true})

	resp, body, err := post(t, s, clinic)
	require.NoError(t, err)
	assert.Equal(t, 502, resp.StatusCode)
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, "<h1>Bad Gateway</h1>")

	s.Script(clinic, twiliotest.Fault{HTML: true, Accept: true})
	_, err = send(api, clinic, patient, "hi")
	require.Error(t, err)
	var te *client.TwilioRestError
	assert.False(t, errors.As(err, &te), "twilio-go cannot decode an HTML error page")
	assert.Contains(t, err.Error(), "error decoding the response for an HTTP error code: 502")
	assert.Len(t, s.Messages(), 1)
}

func TestResetDropsTheConnection(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	s.Script(clinic, twiliotest.Fault{Reset: true, Accept: true})

	_, err := send(api, clinic, patient, "hi")
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF), "got %v", err)
	assert.Len(t, s.Messages(), 1)
	assert.Equal(t, 0, s.Requests()[0].Status)
}

func TestDelayPastTheClientTimeout(t *testing.T) {
	s := newServer(t)
	short := func(c *client.Client) { c.HTTPClient.Timeout = 20 * time.Millisecond }
	api := newAPI(t, s, short)

	s.Script(clinic, twiliotest.Fault{Delay: time.Minute})
	_, err := send(api, clinic, patient, "dropped")
	require.Error(t, err)
	assert.Empty(t, s.Messages(), "a request not accepted is dropped when the client gives up")

	s.Script(clinic, twiliotest.Fault{Delay: time.Minute, Accept: true})
	_, err = send(api, clinic, patient, "accepted")
	require.Error(t, err)
	require.Len(t, s.Messages(), 1, "an accepted request stays accepted")

	s.Script(clinic, twiliotest.Fault{Delay: 5 * time.Millisecond})
	m, err := newAPI(t, s).CreateMessage((&openapi.CreateMessageParams{}).SetFrom(clinic).SetTo(patient).SetBody("slow"))
	require.NoError(t, err, "a delay alone only slows the answer")
	assert.Equal(t, "slow", *m.Body)
}

func TestCloseEndsDelayedRequests(t *testing.T) {
	s := twiliotest.NewServer()
	s.Script(clinic, twiliotest.Fault{Delay: time.Hour, Accept: true})
	done := make(chan error, 1)
	go func() {
		_, err := send(newAPI(t, s), clinic, patient, "hi")
		done <- err
	}()
	require.Eventually(t, func() bool { return len(s.Messages()) == 1 }, 5*time.Second, time.Millisecond)
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a delayed request hanging")
	}
}

func TestResetClearsState(t *testing.T) {
	s := newServer(t)
	_, err := send(newAPI(t, s), clinic, patient, "hi")
	require.NoError(t, err)
	s.Script(clinic, twiliotest.Fault{Status: 500})
	s.Reset()
	assert.Empty(t, s.Messages())
	assert.Empty(t, s.Requests())
	_, err = send(newAPI(t, s), clinic, patient, "hi")
	require.NoError(t, err, "scripted faults are gone")
	assert.Equal(t, 1, s.Count(twiliotest.Create))
	assert.Equal(t, 0, s.Count(twiliotest.List))
	assert.Equal(t, 1, s.Count(twiliotest.Any))
}

func TestBodyReplacesTheAnswer(t *testing.T) {
	s := newServer(t)
	s.Script(clinic, twiliotest.Fault{Accept: true, Status: 201, Body: `{"sid":`})
	resp, body, err := post(t, s, clinic)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, `{"sid":`, body)
	assert.Len(t, s.Messages(), 1)
}

func TestUnscriptEndsOneSendersOutage(t *testing.T) {
	s := newServer(t)
	other := "+15017122661"
	s.Script(clinic, twiliotest.Fault{Status: 503, Times: 1000})
	s.Script(other, twiliotest.Fault{Status: 503, Times: 1000})
	resp, _, err := post(t, s, clinic)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)

	s.Unscript(clinic)
	resp, _, err = post(t, s, clinic)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode, "the outage of clinic ended")
	resp, _, err = post(t, s, other)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, "the other sender's stays")
	assert.Len(t, s.Messages(), 1)
}

func TestFetchFaultsApplyToTheMessagesSender(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	svc := "MG00000000000000000000000000000001"
	fromNumber, err := send(api, clinic, patient, "from a number")
	require.NoError(t, err)
	fromService, err := api.CreateMessage((&openapi.CreateMessageParams{}).
		SetMessagingServiceSid(svc).SetTo(patient).SetBody("through a service"))
	require.NoError(t, err)
	s.Script(clinic, twiliotest.Fault{Op: twiliotest.Fetch, Status: 500})
	s.Script(svc, twiliotest.Fault{Op: twiliotest.Fetch, Status: 503})

	_, err = api.FetchMessage(*fromNumber.Sid, nil)
	assert.Equal(t, 500, restError(t, err).Status)
	_, err = api.FetchMessage(*fromService.Sid, nil)
	assert.Equal(t, 503, restError(t, err).Status)
	log := s.Requests()
	assert.Equal(t, clinic, log[len(log)-2].Sender)
	assert.Equal(t, svc, log[len(log)-1].Sender)
}
