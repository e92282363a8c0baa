package safecall_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

// excerpt returns the Body that CheckResponse gives for an error answer
// with this body.
func excerpt(t *testing.T, body io.Reader) string {
	t.Helper()
	err := safecall.CheckResponse(&http.Response{StatusCode: 500, Body: io.NopCloser(body)})
	var se *safecall.StatusError
	require.ErrorAs(t, err, &se)
	return se.Body
}

func TestStatusErrorBodyRedacted(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text", "upstream connect error", "upstream connect error"},
		{"one line", "bad gateway\r\n<html>\t<body>\n\n", "bad gateway <html> <body>"},
		{"bidi and control characters", "ok\u202egnp.exe\x00done", "ok gnp.exe done"},
		{"json error kept", `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`},
		{"twilio error code kept", `{"code": 21211, "message": "The 'To' number +15551234567 is not a valid phone number."}`,
			`{"code": 21211, "message": "The 'To' number [redacted] is not a valid phone number."}`},
		{"spaced phone number", "call (555) 123-4567 or +1 555 123 4567 now", "call ([redacted] or [redacted] now"},
		{"card number", "card 4242 4242 4242 4242 declined", "card [redacted] declined"},
		{"short numbers kept", "retry in 30 seconds, 2 of 3 attempts, error 500", "retry in 30 seconds, 2 of 3 attempts, error 500"},
		{"date kept", "expired at 2026-11-25T12:00:00Z", "expired at 2026-11-25T12:00:00Z"},
		{"api key", "Invalid API Key provided: sk_live_51Habc123XYZdef456", "Invalid API Key provided: [redacted]"},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig rejected", "token [redacted] rejected"},
		{"uuid", "request 123e4567-e89b-12d3-a456-426614174000 failed", "request [redacted] failed"},
		{"long word without digits", "key ABCDEFGHIJKLMNOPQRSTUVWXYZab here", "key [redacted] here"},
		{"email", "user jane.doe+clinic@example.com not found", "user [redacted] not found"},
		{"json secret fields", `{"access_token":"ya29","password": "correct horse battery", "pin":"12"}`,
			`{"access_token":"[redacted]","password": "[redacted]", "pin":"12"}`},
		{"form secret", "client_secret=abc&grant_type=refresh_token&refresh_token=1//0g", "client_secret=[redacted]&grant_type=refresh_token&refresh_token=[redacted]"},
		{"header echo", "Authorization: Bearer abc.def", "Authorization: [redacted]"},
		{"basic", "got Basic dXNlcjpwYXNz", "got Basic [redacted]"},
		{"cookie", "Cookie: sid=42; lang=en", "Cookie: [redacted]; lang=en"},
		{"number value", `{"api_key": 12345, "x": 1}`, `{"api_key": [redacted], "x": 1}`},
		{"name without separator", "the access token expired", "the access token expired"},
		{"unicode kept", "Termin bestätigt für Zoë", "Termin bestätigt für Zoë"},
		{"16 characters with a digit", "id abcdefghijklmno1 and abcdefghijklmn1", "id [redacted] and abcdefghijklmn1"},
		{"24 letters", "id abcdefghijklmnopqrstuvwx and abcdefghijklmnopqrstuvw", "id [redacted] and abcdefghijklmnopqrstuvw"},
		{"seven digits", "call 555-1234 or 555-123", "call [redacted] or 555-123"},
		{"numbers apart", "codes 1234, 5678 and 9", "codes 1234, 5678 and 9"},
		{"a dash between numbers", "codes 123 - 4567", "codes 123 - 4567"},
		{"zeros and nines are digits", "call 900-0009", "call [redacted]"},
		{"name at the end", "expired token:", "expired token:"},
		{"bearer at the end", "got Bearer ", "got Bearer"},
		{"secret then a trailing space", "key: secret ", "key: [redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, excerpt(t, strings.NewReader(tt.in)))
		})
	}
}

func TestStatusErrorBodyExcerpt(t *testing.T) {
	// A body cut in the middle of a token: its start must not show.
	waits := strings.Repeat("wait ", 49)
	body := waits + "see sk_live_51Habc123XYZdef456"
	require.Equal(t, "sk_live", body[249:256], "the cut leaves a short start")
	assert.Equal(t, waits+"see…", excerpt(t, strings.NewReader(body)))
	// Cut in the middle of a character.
	waits = strings.Repeat("wait ", 51)
	body = waits + "übermorgen"
	require.Equal(t, byte(0xc3), body[255], "the 256th byte starts a ü")
	assert.Equal(t, strings.TrimSpace(waits)+"…", excerpt(t, strings.NewReader(body)))
	assert.Equal(t, "", excerpt(t, strings.NewReader("\xff\xfea")), "not UTF-8")
	assert.Equal(t, "", excerpt(t, strings.NewReader("\x1f\x8b\x08\x00\xff\xff")), "gzip")
	assert.Equal(t, "", excerpt(t, strings.NewReader("")))
	assert.Equal(t, "", excerpt(t, strings.NewReader(strings.Repeat(" ", 300))))
	// A byte that is not UTF-8 three bytes before the cut: not text, even
	// though dropping it would leave text.
	assert.Equal(t, "", excerpt(t, strings.NewReader(strings.Repeat("wait ", 50)+"ab\xffabc"+strings.Repeat("a", 10))))
	assert.Equal(t, "", excerpt(t, strings.NewReader(" \n ")))
	long := strings.Repeat("busy ", 100)
	assert.Equal(t, strings.TrimSpace(long[:255])+"…", excerpt(t, strings.NewReader(long)))
	// A body that fails half way: what was read.
	assert.Equal(t, "partial", excerpt(t, io.MultiReader(strings.NewReader("partial "), iotest.ErrReader(errors.New("reset")))))
}
