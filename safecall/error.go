package safecall

import (
	"strconv"
	"strings"
	"time"

	"github.com/voxanne/resilience/breaker"
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

// Error describes the failure on one line for logs, such as
// `safecall: gcal.book: rate-limit after 4 attempts, retry after 1.5s: HTTP 429`.
// Durations are rounded to what a person reads (5s, 1.5s, 250ms); joined
// errors are separated by "; " and line breaks in them become spaces.
// It is not meant for end users: see UserMessage.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safecall: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Class.String())
	if e.Attempts != 1 {
		b.WriteString(" after ")
		b.WriteString(strconv.Itoa(e.Attempts))
		b.WriteString(" attempts")
	}
	if e.RetryAfter > 0 {
		b.WriteString(", retry after ")
		b.WriteString(roundDuration(e.RetryAfter).String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		writeOneLine(&b, e.Err)
	}
	return b.String()
}

// writeOneLine writes err's message to b on one line: the parts of a joined
// error separated by "; ", a breaker's rejection without its wait (Error
// shows it, rounded), line breaks as spaces.
func writeOneLine(b *strings.Builder, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for i, part := range j.Unwrap() {
			if i > 0 {
				b.WriteString("; ")
			}
			writeOneLine(b, part)
		}
		return
	}
	if oe, ok := err.(*breaker.OpenError); ok {
		err = &breaker.OpenError{Key: oe.Key}
	}
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\r' || r == '\n' })
	b.WriteString(strings.Join(lines, " "))
}

// roundDuration rounds d to what a person reads: whole seconds from 10s,
// tenths of a second from 1s, milliseconds from 1ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}

// Unwrap returns the last error.
func (e *Error) Unwrap() error { return e.Err }
