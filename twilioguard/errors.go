package twilioguard

import (
	"errors"
	"strconv"
	"strings"

	"github.com/voxanne/resilience/safecall"
)

var (
	// ErrInvalidNumber is a phone number that is not in E.164 form. It is
	// Permanent and costs no request.
	ErrInvalidNumber = errors.New("twilioguard: invalid phone number")
	// ErrInvalidMessage is a Message Twilio would refuse or that cannot be
	// tracked: no OrgID or Key, an empty body or one over 1,600
	// characters. It is Permanent and costs no request.
	ErrInvalidMessage = errors.New("twilioguard: invalid message")
	// ErrBadSignature is a status callback whose X-Twilio-Signature is
	// missing or does not match.
	ErrBadSignature = errors.New("twilioguard: bad Twilio signature")
	// ErrNotFound is a delivery the store does not have.
	ErrNotFound = errors.New("twilioguard: delivery not found")
	// ErrConflict is returned by a DeliveryStore's Update when the stored
	// delivery has changed since it was read.
	ErrConflict = errors.New("twilioguard: delivery changed concurrently")
)

// Error is the error of a Send that did not end with the message accepted
// by Twilio. It unwraps to the cause: a *safecall.Error, under which is
// Twilio's *client.TwilioRestError when Twilio answered with one, or
// ErrInvalidNumber or ErrInvalidMessage. Its text names the masked number
// and Twilio's code, never the vendor's message (which repeats the number).
type Error struct {
	OrgID string
	Key   string
	// To is the recipient, masked (see Mask).
	To string
	// Class is the class of the final failure.
	Class safecall.Class
	// Code is Twilio's error code, such as 21211; 0 when Twilio gave none.
	Code int
	// HTTPStatus is the status of Twilio's last answer; 0 when there was
	// none (a network failure, or no request at all).
	HTTPStatus int
	// Attempts counts the create requests this Send made.
	Attempts int
	// Status is the delivery's status when Send returned: Unknown means
	// the message may have been sent and the next Send of the key will
	// find out before sending anything.
	Status Status
	// Err is the cause.
	Err error
}

// Error describes the failure without the vendor's text, e.g.
// `twilioguard: send "org-1"/"appt-9" to +1******4567: permanent (Twilio 21211, HTTP 400) after 1 attempt`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("twilioguard: send ")
	b.WriteString(strconv.Quote(e.OrgID))
	b.WriteString("/")
	b.WriteString(strconv.Quote(e.Key))
	if e.To != "" {
		b.WriteString(" to ")
		b.WriteString(e.To)
	}
	b.WriteString(": ")
	b.WriteString(e.Class.String())
	switch {
	case errors.Is(e.Err, ErrInvalidNumber), errors.Is(e.Err, ErrInvalidMessage):
		b.WriteString(" (")
		b.WriteString(detail(e.Err))
		b.WriteString(")")
	case e.Code != 0 || e.HTTPStatus != 0:
		b.WriteString(" (")
		if e.Code != 0 {
			b.WriteString("Twilio " + strconv.Itoa(e.Code))
			if e.HTTPStatus != 0 {
				b.WriteString(", ")
			}
		}
		if e.HTTPStatus != 0 {
			b.WriteString("HTTP " + strconv.Itoa(e.HTTPStatus))
		}
		b.WriteString(")")
	}
	if e.Attempts > 0 {
		b.WriteString(" after " + strconv.Itoa(e.Attempts) + " attempt")
		if e.Attempts > 1 {
			b.WriteString("s")
		}
	}
	if e.Status == Unknown {
		b.WriteString("; delivery unknown until reconciled")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// detail returns the text of a validation error after its sentinel's,
// which never holds the number or the body.
func detail(err error) string {
	var d *invalidError
	if errors.As(err, &d) {
		return d.reason
	}
	return "invalid"
}

// invalidError is a validation failure: the sentinel and a reason that
// names no value.
type invalidError struct {
	sentinel error
	reason   string
}

func (e *invalidError) Error() string { return e.sentinel.Error() + ": " + e.reason }
func (e *invalidError) Unwrap() error { return e.sentinel }

func invalid(sentinel error, reason string) error {
	return safecall.Mark(&invalidError{sentinel: sentinel, reason: reason}, safecall.Permanent)
}
