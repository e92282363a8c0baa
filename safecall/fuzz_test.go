package safecall_test

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

// FuzzParseRetryAfter: ParseRetryAfter never panics nor returns a negative
// wait; digits are seconds (the largest Duration when too many), an
// HTTP-date that net/http's ParseTime reads is the time until it (0 once
// past), and anything else is 0.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{
		"120", "0", " 7 ", "-1", "+5", "1.5", "1e3", "", "9223372036", "9223372037", "18446744073709551616",
		"Wed, 25 Nov 2026 12:00:30 GMT", "Wednesday, 25-Nov-26 12:00:30 GMT", "Wed Nov 25 12:00:30 2026",
		"Wed, 25 Nov 2026 11:00:00 GMT", "Wed, 25 Nov 2026 12:00:30 UTC", "Wed, 31 Dec 9999 23:59:59 GMT",
		"Mon, 01 Jan 0001 00:00:00 GMT", "tomorrow", "0x10", "٣", "\t30\n",
	} {
		f.Add(v, now.Unix())
	}
	f.Fuzz(func(t *testing.T, value string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		got := safecall.ParseRetryAfter(value, now)
		require.GreaterOrEqual(t, got, time.Duration(0))
		v := strings.TrimSpace(value)
		var want time.Duration
		if v != "" && strings.Trim(v, "0123456789") == "" {
			secs, err := strconv.ParseUint(v, 10, 64)
			if err != nil || secs > math.MaxInt64/uint64(time.Second) {
				want = math.MaxInt64
			} else {
				want = time.Duration(secs) * time.Second
			}
		} else if at, err := http.ParseTime(v); err == nil {
			want = max(at.Sub(now), 0)
		}
		require.Equal(t, want, got, "%q at %v", value, now)
	})
}

var (
	sevenDigits = regexp.MustCompile(`[0-9]{7}`)
	email       = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
)

// FuzzCheckResponse: whatever error answer a server sends, CheckResponse
// does not panic and returns a *StatusError of its status, classified as
// the status rules say, with a RetryAfter that is never negative and a
// Body excerpt that is one line of valid UTF-8 text without unprintable
// characters, e-mail addresses or 7 digits in a row (phone and card
// numbers), and no longer than the redacted 256 bytes it comes from.
func FuzzCheckResponse(f *testing.F) {
	for _, s := range []struct {
		status     int
		body       string
		retryAfter string
		date       string
	}{
		{503, `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`, "30", ""},
		{400, `{"code": 21211, "message": "The 'To' number +15551234567 is not a valid phone number."}`, "", ""},
		{429, "Too Many Requests", "Wed, 25 Nov 2026 12:01:00 GMT", "Wed, 25 Nov 2026 12:00:00 GMT"},
		{401, "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "", ""},
		{403, "user jane.doe+clinic@example.com may not; call (555) 123-4567", "", ""},
		{502, "<html>\r\n<body>\u202egnp.exe\x00 Bad Gateway</body></html>", "", "not a date"},
		{500, "card 4242 4242 4242 4242 declined; id 123e4567-e89b-12d3-a456-426614174000", "-5", ""},
		{404, strings.Repeat("wait ", 51) + "übermorgen", "", ""},
		{409, "\xff\xfe binary", "", ""},
		{418, `password=hunter2&api_key="a b c"&x=1`, "99999999999999999999", ""},
	} {
		f.Add(uint16(s.status), []byte(s.body), s.retryAfter, s.date)
	}
	f.Fuzz(func(t *testing.T, rawStatus uint16, body []byte, retryAfter, date string) {
		status := 400 + int(rawStatus)%200
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("Date", date)
		req, err := http.NewRequest(http.MethodPost, "https://api.example.com/v1/clinics/42", nil)
		require.NoError(t, err)
		err = safecall.CheckResponse(&http.Response{
			StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req,
		})
		var se *safecall.StatusError
		require.ErrorAs(t, err, &se)
		require.Equal(t, status, se.StatusCode)
		require.Equal(t, safecall.ClassifyStatus(status), safecall.Classify(err))
		require.GreaterOrEqual(t, se.RetryAfter, time.Duration(0))

		b := se.Body
		require.True(t, utf8.ValidString(b), "%q", b)
		require.Equal(t, strings.TrimSpace(b), b)
		for _, r := range b {
			require.True(t, r == ' ' || unicode.IsPrint(r) && !unicode.IsSpace(r), "rune %U in %q", r, b)
		}
		require.False(t, sevenDigits.MatchString(b), "digits in %q from %q", b, body)
		require.False(t, email.MatchString(b), "e-mail address in %q from %q", b, body)
		require.LessOrEqual(t, len(b), 10*256+len("…"))
		require.NotContains(t, err.Error(), "\n")
	})
}
