package twiliotest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// receiver records the callbacks it gets, after checking their signature
// with twilio-go's own validator.
type receiver struct {
	t     *testing.T
	token string
	url   string

	mu  sync.Mutex
	got []url.Values
}

func newReceiver(t *testing.T, token string) *receiver {
	r := &receiver{t: t, token: token}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/twilio/status"
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	v := client.NewRequestValidator(r.token)
	if !v.ValidateBody(r.url, body, req.Header.Get("X-Twilio-Signature")) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.got = append(r.got, form)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) statuses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.got {
		out = append(out, f.Get("MessageStatus"))
	}
	return out
}

func sendWithCallback(t *testing.T, api *openapi.ApiService, callback string) string {
	t.Helper()
	m, err := api.CreateMessage((&openapi.CreateMessageParams{}).
		SetFrom(clinic).SetTo(patient).SetBody("hi").SetStatusCallback(callback))
	require.NoError(t, err)
	return *m.Sid
}

func TestSignatureMatchesTwilioGoValidator(t *testing.T) {
	params := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"sent"}, "AccountSid": {"AC1"}}
	u := "https://clinic.example.com/twilio/status?org=7"
	sig := twiliotest.Signature("secret", u, params)
	v := client.NewRequestValidator("secret")
	assert.True(t, v.ValidateBody(u, []byte(params.Encode()), sig))
	assert.False(t, v.ValidateBody(u, []byte(params.Encode()), twiliotest.Signature("other", u, params)))
	assert.False(t, v.ValidateBody("https://other.example.com/twilio/status?org=7", []byte(params.Encode()), sig))
	// Twilio's documented example.
	assert.Equal(t, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", twiliotest.Signature("12345",
		"https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{
			"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
			"From": {"+12349013030"}, "To": {"+18005551212"},
		}))
}

func TestAdvancePostsSignedCallbacksInOrder(t *testing.T) {
	s := newServer(t)
	r := newReceiver(t, s.AuthToken)
	sid := sendWithCallback(t, newAPI(t, s), r.url)

	require.NoError(t, s.Advance(t.Context(), sid, 30003, "sent", "undelivered"))
	assert.Equal(t, []string{"sent", "undelivered"}, r.statuses())
	m, _ := s.Message(sid)
	assert.Equal(t, "undelivered", m.Status)
	assert.Equal(t, 30003, m.ErrorCode)
	assert.False(t, m.DateSent.IsZero())

	r.mu.Lock()
	last := r.got[1]
	r.mu.Unlock()
	assert.Equal(t, sid, last.Get("MessageSid"))
	assert.Equal(t, sid, last.Get("SmsSid"))
	assert.Equal(t, s.AccountSID, last.Get("AccountSid"))
	assert.Equal(t, clinic, last.Get("From"))
	assert.Equal(t, patient, last.Get("To"))
	assert.Equal(t, "30003", last.Get("ErrorCode"))
	assert.Equal(t, "2010-04-01", last.Get("ApiVersion"))
}

func TestCallbacksOutOfOrderAndDuplicated(t *testing.T) {
	s := newServer(t)
	r := newReceiver(t, s.AuthToken)
	sid := sendWithCallback(t, newAPI(t, s), r.url)

	for _, st := range []string{"delivered", "sent", "delivered"} {
		code, err := s.Callback(t.Context(), sid, st, 0)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNoContent, code)
	}
	assert.Equal(t, []string{"delivered", "sent", "delivered"}, r.statuses())
	m, _ := s.Message(sid)
	assert.Equal(t, "queued", m.Status, "Callback does not change the stored status")

	_, err := s.Callback(t.Context(), "SMnope", "sent", 0)
	assert.ErrorIs(t, err, twiliotest.ErrNoMessage)
	m2, err := send(newAPI(t, s), clinic, patient, "no callback")
	require.NoError(t, err)
	_, err = s.Callback(t.Context(), *m2.Sid, "sent", 0)
	assert.ErrorIs(t, err, twiliotest.ErrNoCallback)
}

func TestAdvanceStopsAtARefusedCallback(t *testing.T) {
	s := newServer(t)
	r := newReceiver(t, "not the token")
	sid := sendWithCallback(t, newAPI(t, s), r.url)
	err := s.Advance(t.Context(), sid, 0, "sent", "delivered")
	require.ErrorContains(t, err, "answered 403")
	m, _ := s.Message(sid)
	assert.Equal(t, "sent", m.Status)
}

func TestLifecycleDeliversEveryMessage(t *testing.T) {
	s := twiliotest.NewServer(twiliotest.WithLifecycle(time.Millisecond, "sent", "delivered"))
	r := newReceiver(t, s.AuthToken)
	sid := sendWithCallback(t, newAPI(t, s), r.url)
	require.Eventually(t, func() bool { return len(r.statuses()) == 2 }, 5*time.Second, time.Millisecond)
	s.Close()
	assert.Equal(t, []string{"sent", "delivered"}, r.statuses())
	m, _ := s.Message(sid)
	assert.Equal(t, "delivered", m.Status)
}

func TestCloseStopsTheLifecycle(t *testing.T) {
	s := twiliotest.NewServer(twiliotest.WithLifecycle(time.Hour, "sent"))
	r := newReceiver(t, s.AuthToken)
	sid := sendWithCallback(t, newAPI(t, s), r.url)
	s.Close() // returns although the next step is an hour away
	assert.Empty(t, r.statuses())
	m, _ := s.Message(sid)
	assert.Equal(t, "queued", m.Status)
}

func TestCallbackOfAMessagingServiceMessage(t *testing.T) {
	s := newServer(t)
	r := newReceiver(t, s.AuthToken)
	svc := "MG00000000000000000000000000000001"
	m, err := newAPI(t, s).CreateMessage((&openapi.CreateMessageParams{}).
		SetMessagingServiceSid(svc).SetTo(patient).SetBody("hi").SetStatusCallback(r.url))
	require.NoError(t, err)

	require.NoError(t, s.Advance(t.Context(), *m.Sid, 30007, "sent", "failed"))
	r.mu.Lock()
	got := r.got
	r.mu.Unlock()
	require.Len(t, got, 2)
	assert.Equal(t, svc, got[0].Get("MessagingServiceSid"))
	assert.False(t, got[0].Has("From"), "no From until the service picks one")
	assert.False(t, got[0].Has("ErrorCode"), "only a failed status carries the error code")
	assert.Equal(t, "30007", got[1].Get("ErrorCode"))
}

func TestAdvanceAcceptsEvery2xx(t *testing.T) {
	for _, tt := range []struct {
		status int
		ok     bool
	}{{200, true}, {299, true}, {300, false}, {500, false}} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(srv.Close)
			s := newServer(t)
			sid := sendWithCallback(t, newAPI(t, s), srv.URL)
			err := s.Advance(t.Context(), sid, 0, "sent", "delivered")
			m, _ := s.Message(sid)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, "delivered", m.Status)
				return
			}
			assert.ErrorContains(t, err, "answered "+strconv.Itoa(tt.status))
			assert.Equal(t, "sent", m.Status, "Advance stops at the refused callback")
		})
	}
}
