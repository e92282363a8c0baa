package twilioguard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// publicCallback is where Twilio reaches the handler: through a proxy
// that forwards to an internal address with another Host.
const publicCallback = "https://clinic.example.com/hooks/twilio/status"

// callbackEnv is an env whose guard's StatusHandler is served behind a
// rewriting proxy, and whose fake posts callbacks to the public URL.
func callbackEnv(t *testing.T, opts ...twilioguard.Option) (*env, *httptest.Server) {
	t.Helper()
	var e *env
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.guard.StatusHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	proxy := &http.Client{Transport: rewriteTo(backend.URL, "/internal/status")}
	e = &env{t: t, store: &twilioguard.MemoryStore{}, audit: &auditLog{}, logs: &syncBuffer{}}
	e.fake = twiliotest.NewServer(twiliotest.WithCallbackClient(proxy))
	t.Cleanup(e.fake.Close)
	e.cfg = twilioguard.Config{
		AccountSID: e.fake.AccountSID, AuthToken: e.fake.AuthToken, From: clinic,
		BaseURL: e.fake.URL, StatusCallback: publicCallback,
	}
	e.guard = e.newGuard(opts...)
	return e, backend
}

// rewriteTo is a reverse proxy's view of a request: same body and
// headers, another host and path.
func rewriteTo(base, path string) http.RoundTripper {
	u, _ := url.Parse(base)
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.URL.Path, out.Host = u.Scheme, u.Host, path, ""
		return http.DefaultTransport.RoundTrip(out)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestStatusCallbacksMoveDeliveriesForwardOnly(t *testing.T) {
	e, _ := callbackEnv(t)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	m, _ := e.fake.Message(d.SID)
	assert.Equal(t, publicCallback, m.StatusCallback, "the public URL is given to Twilio")

	post := func(status string, code int) {
		t.Helper()
		got, err := e.fake.Callback(t.Context(), d.SID, status, code)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNoContent, got)
	}
	status := func() twilioguard.Delivery {
		d, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
		require.NoError(t, err)
		return d
	}
	post("sent", 0)
	assert.Equal(t, twilioguard.Sent, status().Status)
	post("delivered", 0)
	post("sent", 0) // late
	assert.Equal(t, twilioguard.Delivered, status().Status, "a late sent never overwrites delivered")
	post("delivered", 0) // duplicate
	post("undelivered", 30003)
	assert.Equal(t, twilioguard.Delivered, status().Status, "the first final status wins")
	assert.Equal(t, 0, status().ErrorCode)
	post("read", 0)
	assert.Equal(t, twilioguard.Read, status().Status)

	events := 0
	for _, en := range e.audit.all() {
		if en.Event == twilioguard.EventStatus {
			events++
			assert.Equal(t, "+1******4567", en.To)
			assert.Equal(t, d.SID, en.SID)
		}
	}
	assert.Equal(t, 3, events, "sent, delivered, read; ignored callbacks leave no trace")
}

func TestStatusCallbackStoresTheErrorCode(t *testing.T) {
	e, _ := callbackEnv(t)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	// Twilio's order, delivered out of order: undelivered first, sent late.
	require.NoError(t, e.fake.SetStatus(d.SID, "undelivered", 30003))
	for _, st := range []string{"undelivered", "sent", "queued"} {
		code := 0
		if st == "undelivered" {
			code = 30003
		}
		got, err := e.fake.Callback(t.Context(), d.SID, st, code)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNoContent, got)
	}
	got, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Undelivered, got.Status)
	assert.Equal(t, 30003, got.ErrorCode)
}

func TestStatusHandlerSignatures(t *testing.T) {
	e, backend := callbackEnv(t)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)

	form := url.Values{
		"AccountSid": {e.fake.AccountSID}, "MessageSid": {d.SID}, "MessageStatus": {"delivered"},
		"SmsSid": {d.SID}, "SmsStatus": {"delivered"}, "To": {patient}, "From": {clinic},
		"ApiVersion": {"2010-04-01"},
	}
	sign := func(u string, f url.Values) string { return twiliotest.Signature(e.cfg.AuthToken, u, f) }
	tests := []struct {
		name   string
		target string // where the request is made
		query  string
		form   url.Values
		sig    string
		method string
		want   int
	}{
		{name: "valid, host rewritten by a proxy", target: backend.URL + "/internal/status",
			form: form, sig: sign(publicCallback, form), want: 204},
		{name: "valid with a query", target: backend.URL + "/internal/status", query: "org=org-1",
			form: form, sig: sign(publicCallback+"?org=org-1", form), want: 204},
		{name: "missing", target: backend.URL + "/internal/status", form: form, want: 403},
		{name: "signed for the request's own URL", target: backend.URL + "/internal/status",
			form: form, sig: sign(backend.URL+"/internal/status", form), want: 403},
		{name: "tampered status", target: backend.URL + "/internal/status",
			form: with(form, "MessageStatus", "failed"), sig: sign(publicCallback, form), want: 403},
		{name: "tampered query", target: backend.URL + "/internal/status", query: "org=org-2",
			form: form, sig: sign(publicCallback+"?org=org-1", form), want: 403},
		{name: "another token", target: backend.URL + "/internal/status",
			form: form, sig: twiliotest.Signature("othertoken", publicCallback, form), want: 403},
		{name: "GET", target: backend.URL + "/internal/status", method: http.MethodGet, want: 405},
		{name: "unknown SID", target: backend.URL + "/internal/status",
			form: with(form, "MessageSid", "SMunknown"), sig: sign(publicCallback, with(form, "MessageSid", "SMunknown")), want: 204},
		{name: "unknown status", target: backend.URL + "/internal/status",
			form: with(form, "MessageStatus", "teleported"), sig: sign(publicCallback, with(form, "MessageStatus", "teleported")), want: 204},
		{name: "another account", target: backend.URL + "/internal/status",
			form: with(with(form, "AccountSid", "AC00000000000000000000000000000009"), "MessageStatus", "read"),
			sig: sign(publicCallback, with(with(form, "AccountSid", "AC00000000000000000000000000000009"),
				"MessageStatus", "read")), want: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if tt.query != "" {
				target += "?" + tt.query
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, target, strings.NewReader(tt.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.sig != "" {
				req.Header.Set("X-Twilio-Signature", tt.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode)
		})
	}
	got, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Delivered, got.Status, "only the validly signed callbacks counted")
}

func TestStatusHandlerWithoutCallbackURLRefusesEverything(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"sent"}}
	req := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Signature(e.cfg.AuthToken, "http://example.com/status", form))
	rec := httptest.NewRecorder()
	e.guard.StatusHandler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusForbidden, rec.Code)
}

func TestLifecycleCallbacksReachTheDelivery(t *testing.T) {
	var e *env
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.guard.StatusHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	e = &env{t: t, store: &twilioguard.MemoryStore{}, audit: &auditLog{}, logs: &syncBuffer{}}
	e.fake = twiliotest.NewServer(twiliotest.WithLifecycle(5*time.Millisecond, "sent", "delivered"))
	t.Cleanup(e.fake.Close)
	e.cfg = twilioguard.Config{AccountSID: e.fake.AccountSID, AuthToken: e.fake.AuthToken, From: clinic,
		BaseURL: e.fake.URL, StatusCallback: backend.URL + "/status"}
	e.guard = e.newGuard()
	_, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		d, err := e.guard.Delivery(t.Context(), "org-1", "appt-1")
		return err == nil && d.Status == twilioguard.Delivered
	}, 5*time.Second, time.Millisecond)
}

func with(f url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	out.Set(key, value)
	return out
}

// bySIDDown is a store whose lookups by SID fail.
type bySIDDown struct{ twilioguard.MemoryStore }

func (*bySIDDown) BySID(context.Context, string) (twilioguard.Delivery, error) {
	return twilioguard.Delivery{}, errDown
}

func TestStatusHandlerAnswers500WhenTheStoreFails(t *testing.T) {
	e, backend := callbackEnv(t, twilioguard.WithStore(&bySIDDown{}))
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	form := url.Values{"AccountSid": {e.fake.AccountSID}, "MessageSid": {"SM1"}, "MessageStatus": {"sent"}}
	req, err := http.NewRequest(http.MethodPost, backend.URL+"/internal/status", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Signature(e.cfg.AuthToken, publicCallback, form))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, e.logs.String(), "status callback not stored")
}

func TestStatusHandlerRefusesABodyOver64KiB(t *testing.T) {
	e, _ := callbackEnv(t)
	post := func(size int) int {
		form := "MessageSid=SM1&MessageStatus=sent&Pad="
		form += strings.Repeat("x", size-len(form))
		req := httptest.NewRequest(http.MethodPost, "/internal/status", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Signature(e.cfg.AuthToken, publicCallback, mustParse(t, form)))
		rec := httptest.NewRecorder()
		e.guard.StatusHandler().ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusNoContent, post(64<<10))
	assert.Equal(t, http.StatusBadRequest, post(64<<10+1))
}

func mustParse(t *testing.T, form string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(form)
	require.NoError(t, err)
	return v
}
