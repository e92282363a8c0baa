package safecall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/voxanne/resilience/safecall"
)

// Found by FuzzParseRetryAfter: a malformed value of too many digits
// ("20000000000000000000A") was read as the largest wait, because the
// range check of strconv stops before the letter. Malformed is no wait.
func TestParseRetryAfterMalformedHugeNumberIsNoWait(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"20000000000000000000A", "99999999999999999999 s", "18446744073709551616.5"} {
		assert.Zero(t, safecall.ParseRetryAfter(v, now), "%q", v)
	}
	assert.Equal(t, time.Duration(1<<63-1), safecall.ParseRetryAfter("20000000000000000000", now), "well-formed, too large")
}

// Found by FuzzCheckResponse: 7 digits in a row inside a word with other
// characters ("0000000ښ") were shown, so a form-encoded phone number that
// an error page echoes ("To=%2B15551234567") reached logs whole.
func TestStatusErrorBodyRedactsDigitsGluedToLetters(t *testing.T) {
	for in, want := range map[string]string{
		"0000000ښ":                        "[redacted]",
		"echo: To=%2B15551234567&Body=Hi": "echo: To=[redacted]&Body=Hi",
		"no phone15551234567 here":        "no [redacted] here",
		"ref_1234567 failed":              "[redacted] failed",
		"v123456 and x12345y67 kept":      "v123456 and x12345y67 kept",
	} {
		assert.Equal(t, want, excerpt(t, strings.NewReader(in)), "%q", in)
	}
}
