package safecall

import (
	"errors"
	"strconv"
)

// Class says what kind of failure an error is, and so how it is handled.
// The zero value is Unknown.
type Class uint8

const (
	// Unknown is a failure nothing is known about; it is retried like Temporary.
	Unknown Class = iota
	// Network is a failure to reach the dependency or to keep the connection:
	// connection refused or reset, DNS failure, I/O timeout, unexpected EOF.
	Network
	// Auth is a rejected credential (HTTP 401 or 403).
	Auth
	// RateLimit is a rejection for sending too much (HTTP 429).
	RateLimit
	// Temporary is a failure likely to pass: HTTP 408 and 5xx (but 501), an
	// attempt that ran out of its own time.
	Temporary
	// Permanent is a failure that repeating the same request cannot fix,
	// such as a bad phone number or any other 4xx.
	Permanent
	// CircuitOpen is a call refused by an open circuit breaker.
	CircuitOpen
	// Canceled is a call stopped because the caller's context is done.
	Canceled

	numClasses
)

// String returns the class name in lower case, such as "rate-limit".
func (c Class) String() string {
	switch c {
	case Unknown:
		return "unknown"
	case Network:
		return "network"
	case Auth:
		return "auth"
	case RateLimit:
		return "rate-limit"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case CircuitOpen:
		return "circuit-open"
	case Canceled:
		return "canceled"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Mark returns an error that wraps err and that Classify puts in class c.
// It returns nil when err is nil. The outermost mark wins.
//
// An error Classify knows nothing about, such as a plain errors.New or
// fmt.Errorf without a wrapped error, is Unknown and retried like Temporary
// (up to 3 retries, about 7s with the defaults). Mark a failure that
// repeating cannot fix as Permanent, so that Call returns it at once and the
// breaker counts it as an answer:
//
//	if !valid(phone) {
//		return safecall.Mark(fmt.Errorf("invalid phone number %s", masked), safecall.Permanent)
//	}
func Mark(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, class: c}
}

type markedError struct {
	err   error
	class Class
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }

// ClassOf returns the class of err: the Class of a safecall *Error in its
// chain, or else Classify(err). ClassOf(nil) is Unknown.
func ClassOf(err error) Class {
	if err == nil {
		return Unknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Classify(err)
}
