package breaker

import (
	"errors"
	"strconv"
	"time"
)

// ErrOpen is matched (with errors.Is) by every rejection of an open or
// saturated half-open breaker. The concrete error is an *OpenError.
var ErrOpen = errors.New("breaker: circuit open")

// OpenError is the error returned when a breaker rejects a call.
type OpenError struct {
	// Key names the breaker (the registry key, or "" for a lone breaker).
	Key string
	// RetryAfter is how long until the breaker admits a probe; zero when
	// it is half-open with all probes in flight.
	RetryAfter time.Duration
}

// Error describes the rejection.
func (e *OpenError) Error() string {
	s := "breaker: circuit open"
	if e.Key != "" {
		s += " for " + strconv.Quote(e.Key)
	}
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s
}

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }
