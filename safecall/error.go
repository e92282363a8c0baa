package safecall

import (
	"strconv"
	"time"
)

// Error is the error Call returns when it gives up. It unwraps to the last
// error, so errors.Is and errors.As still find the vendor's error under it.
type Error struct {
	// Op is the operation name given to Call.
	Op string
	// Class is the class of the final failure.
	Class Class
	// Attempts is how many times the function was called (0 when the
	// breaker or a done context refused the first attempt).
	Attempts int
	// Err is the last error: the function's, or the breaker's rejection or
	// the context's error, joined with the function's last error if any.
	Err error
	// RetryAfter is how long the dependency (or the breaker) asked to be left
	// alone; zero when nothing was asked.
	RetryAfter time.Duration

	message string // from WithUserMessage
}

// Error describes the failure for logs, such as
// `safecall: gcal.book: rate-limit after 4 attempts: 429 Too Many Requests`.
// It is not meant for end users: see UserMessage.
func (e *Error) Error() string {
	s := "safecall: " + e.Op + ": " + e.Class.String()
	if e.Attempts != 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the last error.
func (e *Error) Unwrap() error { return e.Err }
