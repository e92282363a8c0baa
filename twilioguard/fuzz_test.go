package twilioguard_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// e164 is the form ValidateE164 documents: '+', a digit from 1 to 9, then
// 6 to 14 digits (Go's \d and $ are ASCII digits and the end of the text).
var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

// stripSeparators removes what the documentation of Message.To says Send
// removes: spaces, dashes, dots and parentheses.
func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || strings.ContainsRune("-.()", r) {
			return -1
		}
		return r
	}, s)
}

// FuzzValidateE164: ValidateE164 accepts exactly the numbers of the
// documented form; its refusals match ErrInvalidNumber, are Permanent and
// never repeat the number.
func FuzzValidateE164(f *testing.F) {
	for _, s := range []string{
		"+15551234567", "+1234567", "+123456789012345", "+1234567890123456", "+123456", "+0123456789",
		"15551234567", "", "+", "++15551234567", "+1555123456\n", "+1 555 123 4567", "+1555123456７",
		"+١٥٥٥١٢٣٤٥٦٧", "+44(20)79460000", "+1555123456a", "\x00+15551234567",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := twilioguard.ValidateE164(s)
		if e164.MatchString(s) {
			require.NoError(t, err, "%q", s)
			return
		}
		require.ErrorIs(t, err, twilioguard.ErrInvalidNumber, "%q", s)
		require.Equal(t, safecall.Permanent, twilioguard.Classify(err))
		if strings.IndexFunc(s, unicode.IsDigit) >= 0 && len(s) > 1 {
			require.NotContains(t, err.Error(), s)
		}
	})
}

// FuzzSendNormalisesNumbers: whatever a caller puts in Message.To, Send
// either refuses it with ErrInvalidNumber and no request, or sends Twilio
// the number with its spaces, dashes, dots and parentheses removed, in
// E.164 form; sending that number again sends it unchanged.
func FuzzSendNormalisesNumbers(f *testing.F) {
	for _, s := range []string{
		"+15551234567", "+1 (555) 123-4567", "+1.555.123.4567", "+44 20 7946 0000", "  +15551234567\t",
		"+1\u00a0555\u2009123\u30004567", "(+1) 555 1234567", "+1-555-123-4567-", "5551234567", "+1 555 CALL NOW",
		"+0 555 123 4567", "+1 5", "+1 555 123 4567 890 12", "+1\n5551234567", "+1_555_123_4567", "++1 555",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, to string) {
		tr := &recordingTwilio{}
		g := fuzzGuard(t, tr, twilioguard.Config{})
		d, err := g.Send(t.Context(), twilioguard.Message{OrgID: "org", Key: "first", To: to, Body: body})
		want := stripSeparators(to)
		if !e164.MatchString(want) {
			require.ErrorIs(t, err, twilioguard.ErrInvalidNumber, "%q", to)
			require.Zero(t, tr.requests, "a refused number costs no request")
			return
		}
		require.NoError(t, err, "%q", to)
		require.Equal(t, []string{want}, tr.to, "%q", to)
		require.Equal(t, want, d.To)

		again, err := g.Send(t.Context(), twilioguard.Message{OrgID: "org", Key: "again", To: want, Body: body})
		require.NoError(t, err)
		require.Equal(t, []string{want, want}, tr.to, "normalising is idempotent")
		require.Equal(t, want, again.To)
	})
}

// recordingTwilio answers every create request as Twilio accepting the
// message, and records the To of each.
type recordingTwilio struct {
	requests int
	to       []string
}

func (r *recordingTwilio) RoundTrip(req *http.Request) (*http.Response, error) {
	r.requests++
	if err := req.ParseForm(); err != nil {
		return nil, err
	}
	to := req.PostForm.Get("To")
	r.to = append(r.to, to)
	b, err := json.Marshal(map[string]any{
		"sid": "SM" + strings.Repeat("0", 31) + strconv.Itoa(r.requests%10), "status": "queued", "to": to,
	})
	if err != nil {
		return nil, err
	}
	return answer(req, http.StatusCreated, b, ""), nil
}

// answer is an HTTP answer to req, as a RoundTripper returns it.
func answer(req *http.Request, status int, body []byte, retryAfter string) *http.Response {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

const fuzzAuthToken = "authtoken0123456789"

// fuzzGuard is a Guard whose requests go to rt, with a store of its own,
// no retries and no logs; cfg's StatusCallback is kept.
func fuzzGuard(t *testing.T, rt http.RoundTripper, cfg twilioguard.Config, opts ...twilioguard.Option) *twilioguard.Guard {
	t.Helper()
	cfg.AccountSID = "AC" + strings.Repeat("a", 32)
	cfg.AuthToken = fuzzAuthToken
	cfg.From = clinic
	all := append([]twilioguard.Option{
		twilioguard.WithHTTPClient(&http.Client{Transport: rt}),
		twilioguard.WithCallOptions(safecall.WithRetries(0)),
	}, opts...)
	g, err := twilioguard.New(cfg, all...)
	require.NoError(t, err)
	return g
}

// FuzzSendClassifiesTwilioAnswers: whatever status and body Twilio (or a
// proxy in front of it) answers a create request with, decoded by
// twilio-go itself, Send does not panic; a success has a SID; a failure is
// an *Error whose HTTPStatus is the answer's, whose text holds neither the
// number nor Twilio's message (the seeds' messages say VENDOR), whose class follows Twilio's code when
// Classify knows it and otherwise the HTTP status (undecodable answers
// are Temporary), and a 5xx or an undecodable 2xx leaves the delivery
// Unknown, to be reconciled.
func FuzzSendClassifiesTwilioAnswers(f *testing.F) {
	restError := func(status, code int, msg string) []byte {
		b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status})
		return b
	}
	for _, s := range []struct {
		status int
		body   []byte
		after  string
	}{
		{400, restError(400, 21211, "The 'To' number "+patient+" is not a valid phone number."), ""},
		{400, restError(400, 21610, "Attempt to send to unsubscribed recipient VENDOR TEXT"), ""},
		{400, restError(400, 30001, "VENDOR queue overflow"), ""},
		{401, restError(401, 20003, "Authenticate"), ""},
		{429, restError(429, 20429, "Too Many Requests"), "2"},
		{503, restError(503, 20503, "Service Unavailable"), "Wed, 21 Oct 2015 07:28:00 GMT"},
		{500, restError(500, 0, ""), ""},
		{502, []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"), ""},
		{201, []byte(`{"sid": "", "status": "queued"}`), ""},
		{200, []byte(`{"sid": "SM0123", "status": "queued"`), ""},
		{201, []byte(`<html>captive portal</html>`), ""},
		{404, []byte(`{"code": 20404, "status": 404} trailing`), ""},
		{429, []byte(`{"code": "20429"}`), "-1"},
		{503, []byte(`{"status": 400}`), ""},
		{400, []byte(`{"status": 503, "code": 0}`), ""},
		{400, []byte(`[]`), ""},
		{403, []byte(`{"code": 1e400}`), ""},
	} {
		f.Add(uint16(s.status), s.body, s.after)
	}
	f.Fuzz(func(t *testing.T, rawStatus uint16, body []byte, retryAfter string) {
		status := int(rawStatus)
		if status < 200 || status > 599 {
			status = 200 + status%400 // a final status a client sees
		}
		tr := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return answer(req, status, body, retryAfter), nil
		})
		g := fuzzGuard(t, tr, twilioguard.Config{})
		d, err := g.Send(t.Context(), msg("org", "appt-1"))
		if err == nil {
			require.Less(t, status, 400, "a success from an error status")
			require.NotEmpty(t, d.SID)
			return
		}
		var e *twilioguard.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, status, e.HTTPStatus)
		require.NotContains(t, err.Error(), patient)
		require.NotContains(t, err.Error(), strings.TrimPrefix(patient, "+"))
		require.Equal(t, e.Class, twilioguard.Classify(err))

		var te client.TwilioRestError // decoded as twilio-go does
		decoded := json.NewDecoder(bytes.NewReader(body)).Decode(&te) == nil
		switch {
		case status < 400:
			require.Equal(t, safecall.Temporary, e.Class, "an accepted answer without a message")
			require.Equal(t, twilioguard.Unknown, d.Status)
			return
		case decoded:
			require.Equal(t, te.Code, e.Code)
			if c := twilioguard.Classify(&client.TwilioRestError{Code: te.Code}); c != safecall.Unknown {
				require.Equal(t, c, e.Class, "Twilio code %d", te.Code)
				break
			}
			fallthrough
		default:
			require.Equal(t, safecall.ClassifyStatus(status), e.Class, "HTTP %d, body %q", status, body)
		}
		if status >= 500 {
			require.Equal(t, twilioguard.Unknown, d.Status, "a 5xx may have created the message")
		} else {
			require.NotEqual(t, twilioguard.Unknown, d.Status, "a 4xx created nothing")
		}
		require.NotContains(t, err.Error(), "VENDOR", "vendor text")
	})
}

// callbackStatusRank is Twilio's order of statuses as the StatusHandler
// documentation states it: a callback moves a delivery only forward.
var callbackStatusRank = map[string]int{
	"accepted": 1, "scheduled": 2, "queued": 3, "sending": 4, "sent": 5,
	"delivered": 6, "undelivered": 6, "failed": 6, "canceled": 6, "partially_delivered": 6, "read": 7,
}

// twilioSignature is the X-Twilio-Signature of a POST to rawURL with body,
// computed as twilio-go's RequestValidator checks it: the base64
// HMAC-SHA1 of the URL followed by each form parameter's name and first
// value, sorted by name; or, when the URL carries bodySHA256, of the URL
// alone. ok is false for a body that is not a form.
func twilioSignature(authToken, rawURL, body string) (sig string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	params := url.Values{}
	if u.Query().Get("bodySHA256") == "" {
		form, err := url.ParseQuery(body)
		if err != nil {
			return "", false
		}
		for k, v := range form {
			params.Set(k, v[0])
		}
	}
	// With one value per name, twiliotest signs as twilio-go validates.
	return twiliotest.Signature(authToken, rawURL, params), true
}

// FuzzStatusHandler: whatever body, query and signature a request to the
// StatusHandler carries, it never panics and never answers 5xx; a request
// not signed as Twilio signs is refused with 403 and changes nothing; a
// signed one gets 204 and moves the delivery it names forward only.
func FuzzStatusHandler(f *testing.F) {
	const sid = "SM00000000000000000000000000000001"
	account := "AC" + strings.Repeat("a", 32)
	for _, s := range []struct {
		body, query, sig string
		sign             bool
	}{
		{"MessageSid=" + sid + "&MessageStatus=delivered&AccountSid=" + account, "", "", true},
		{"SmsSid=" + sid + "&SmsStatus=undelivered&ErrorCode=30003", "", "", true},
		{"MessageSid=" + sid + "&MessageStatus=sent&MessageStatus=delivered", "", "", true},
		{"MessageSid=" + sid + "&MessageStatus=accepted", "", "", true},
		{"MessageSid=" + sid + "&MessageStatus=delivered&AccountSid=ACother", "", "", true},
		{"MessageSid=" + sid + "&MessageStatus=read&ErrorCode=x", "attempt=2", "", true},
		{"MessageSid=" + sid + "&MessageStatus=delivered", "", "bm90IGEgc2lnbmF0dXJl", false},
		{"MessageSid=" + sid + "&MessageStatus=delivered", "bodySHA256=00", "", true},
		{"MessageSid=" + sid + "&MessageStatus=failed;x=1", "", "", true},
		{"%zz", "", "", true},
		{"", "", "", false},
		{strings.Repeat("a=b&", 100), "a=%", "", true},
	} {
		f.Add(s.body, s.query, s.sig, s.sign)
	}
	f.Fuzz(func(t *testing.T, body, query, sig string, sign bool) {
		store := &twilioguard.MemoryStore{}
		before, _, err := store.Create(t.Context(), twilioguard.Delivery{
			OrgID: "org", Key: "appt-1", To: patient, From: clinic, SID: sid, Status: twilioguard.Queued, Attempts: 1,
		})
		require.NoError(t, err)
		g := fuzzGuard(t, roundTripFunc(func(*http.Request) (*http.Response, error) {
			panic("a callback made a request to Twilio")
		}), twilioguard.Config{StatusCallback: publicCallback}, twilioguard.WithStore(store))

		signedURL := publicCallback
		if query != "" {
			signedURL += "?" + query
		}
		want, signable := twilioSignature(fuzzAuthToken, signedURL, body)
		if sign {
			sig = want
		}
		r, err := http.NewRequest(http.MethodPost, "http://10.0.0.7:8080/internal/status", strings.NewReader(body))
		require.NoError(t, err)
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			r.Header.Set("X-Twilio-Signature", sig)
		}
		w := httptest.NewRecorder()
		g.StatusHandler().ServeHTTP(w, r)
		after, err := store.BySID(t.Context(), sid)
		require.NoError(t, err)

		require.Less(t, w.Code, 500, "never 5xx")
		valid := signable && sig != "" && sig == want && validBodyHash(signedURL, body)
		if !valid {
			require.Contains(t, []int{http.StatusForbidden, http.StatusBadRequest}, w.Code)
			require.Equal(t, before, after, "an unsigned callback changed the delivery")
			return
		}
		require.Equal(t, http.StatusNoContent, w.Code)
		form, _ := url.ParseQuery(body)
		named := form.Get("MessageSid")
		if named == "" {
			named = form.Get("SmsSid")
		}
		st := form.Get("MessageStatus")
		if st == "" {
			st = form.Get("SmsStatus")
		}
		ours := named == sid && (form.Get("AccountSid") == "" || form.Get("AccountSid") == account)
		if !ours || callbackStatusRank[st] <= callbackStatusRank[string(before.Status)] {
			require.Equal(t, before, after, "a callback that is not ours, late or unknown changed the delivery")
			return
		}
		require.Equal(t, twilioguard.Status(st), after.Status)
		wantCode := before.ErrorCode
		if code, _ := strconv.Atoi(form.Get("ErrorCode")); code != 0 {
			wantCode = code
		}
		require.Equal(t, wantCode, after.ErrorCode)
	})
}

// validBodyHash checks the bodySHA256 of rawURL, if any, against body.
func validBodyHash(rawURL, body string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	want := u.Query().Get("bodySHA256")
	sum := sha256.Sum256([]byte(body))
	return want == "" || want == hex.EncodeToString(sum[:])
}
