package safecall

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter returns the wait asked for by the value of a Retry-After
// response header, relative to now: a number of seconds ("120") or an
// HTTP-date ("Wed, 25 Nov 2026 12:00:00 GMT"). It returns zero for an empty,
// malformed or past value. A value too large for a time.Duration gives the
// largest one; WithMaxWait caps the wait Call makes.
//
// A vendor error type reports the result through a RetryAfter()
// time.Duration method, which Classify and Call read.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if value[0] >= '0' && value[0] <= '9' {
		if strings.TrimLeft(value, "0123456789") != "" {
			return 0 // malformed: strconv reports a range error before the letter
		}
		secs, err := strconv.ParseUint(value, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange), err == nil && secs > math.MaxInt64/uint64(time.Second):
			return math.MaxInt64
		case err != nil:
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, value); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	return 0
}

// httpDateLayouts are the HTTP-date forms of RFC 9110 (as net/http's
// ParseTime accepts them): IMF-fixdate, then the obsolete RFC 850 and
// asctime forms.
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	time.RFC850,
	time.ANSIC,
}
