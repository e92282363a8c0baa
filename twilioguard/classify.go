package twilioguard

import (
	"errors"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/safecall"
)

// apiError is a failed request to Twilio with what the transport saw of
// it. It unwraps to twilio-go's error (a *client.TwilioRestError when
// Twilio answered one) and its text holds no vendor message.
type apiError struct {
	err        error
	status     int           // HTTP status of the answer, 0 when none came
	retryAfter time.Duration // from a Retry-After header
	ambiguous  bool          // Twilio may have acted on the request
	garbled    bool          // an answer came that could not be decoded
}

func (e *apiError) Error() string {
	s := "twilio: "
	if te, ok := asRestError(e.err); ok {
		s += "error " + strconv.Itoa(te.Code) + ", "
	}
	switch {
	case e.status == 0 && e.ambiguous:
		s += "no answer after the request was sent"
	case e.status == 0:
		s += "request not sent"
	default:
		s += "HTTP " + strconv.Itoa(e.status)
		if e.garbled {
			s += ", answer not understood"
		}
	}
	return s
}

func (e *apiError) Unwrap() error { return e.err }

// HTTPStatus returns the status of Twilio's answer, 0 when none came.
func (e *apiError) HTTPStatus() int { return e.status }

// RetryAfter returns the wait asked for by a Retry-After header.
func (e *apiError) RetryAfter() time.Duration { return e.retryAfter }

func asRestError(err error) (*client.TwilioRestError, bool) {
	var te *client.TwilioRestError
	ok := errors.As(err, &te)
	return te, ok
}

// Twilio error codes that decide a class whatever the HTTP status.
var codeClasses = map[int]safecall.Class{
	20003: safecall.Auth,      // authentication failed
	20005: safecall.Auth,      // account not active
	20429: safecall.RateLimit, // too many requests
	14107: safecall.RateLimit, // SMS send rate limit exceeded
	21611: safecall.RateLimit, // the From number's queue is full
	20500: safecall.Temporary, // internal server error
	20503: safecall.Temporary, // service unavailable

	20404: safecall.Permanent, // resource not found
	21211: safecall.Permanent, // invalid To number
	21212: safecall.Permanent, // invalid From number
	21214: safecall.Permanent, // To number cannot be reached
	21217: safecall.Permanent, // phone number does not appear valid
	21401: safecall.Permanent, // invalid phone number
	21408: safecall.Permanent, // no permission to send to the region
	21602: safecall.Permanent, // body required
	21603: safecall.Permanent, // From required
	21604: safecall.Permanent, // To required
	21606: safecall.Permanent, // From is not an SMS-capable number of the account
	21608: safecall.Permanent, // trial accounts send to verified numbers only
	21609: safecall.Permanent, // invalid StatusCallback
	21610: safecall.Permanent, // recipient unsubscribed (STOP)
	21612: safecall.Permanent, // To not reachable from this From
	21614: safecall.Permanent, // To is not a mobile number
	21617: safecall.Permanent, // body over 1,600 characters
	21618: safecall.Permanent, // body invalid
	21621: safecall.Permanent, // From not enabled for MMS
	21635: safecall.Permanent, // To cannot receive this content
}

// Classify is the guard's classifier, which Send uses (WithCallOptions can
// replace it). It reads:
//   - ErrInvalidNumber and ErrInvalidMessage: Permanent;
//   - Twilio's error code, from *client.TwilioRestError: 20003 and 20005
//     are Auth; 20429, 14107 (send rate) and 21611 (queue full) RateLimit;
//     21211, 21408, 21610, 21612, 21614 and the other codes of refused
//     messages Permanent; 20500 and 20503 Temporary;
//   - the HTTP status, code or not: 401 and 403 Auth, 429 RateLimit, 5xx
//     Temporary, other 4xx Permanent;
//   - an answer that cannot be decoded (an HTML page from a proxy, a
//     success without a SID): Temporary;
//
// and otherwise defers to safecall.Classify (network errors, timeouts,
// context errors, open breakers). Whether a failure may have created the
// message is a separate question: see Ambiguous.
func Classify(err error) safecall.Class {
	if err == nil {
		return safecall.Unknown
	}
	if errors.Is(err, ErrInvalidNumber) || errors.Is(err, ErrInvalidMessage) {
		return safecall.Permanent
	}
	te, isRest := asRestError(err)
	if isRest {
		if c, ok := codeClasses[te.Code]; ok {
			return c
		}
	}
	// The HTTP status the transport saw wins over the status a body claims.
	var ae *apiError
	if errors.As(err, &ae) && ae.status != 0 {
		if c := safecall.ClassifyStatus(ae.status); c != safecall.Unknown {
			return c
		}
		if ae.garbled {
			return safecall.Temporary
		}
	}
	if isRest && te.Status != 0 {
		if c := safecall.ClassifyStatus(te.Status); c != safecall.Unknown {
			return c
		}
	}
	return safecall.Classify(err)
}

// Ambiguous reports whether err, the failure of a create request, leaves
// open whether Twilio created the message: a 5xx, an answer that cannot
// be decoded, or no answer to a request that was sent in full (a timeout,
// a reset connection). Send reconciles such a delivery (lists Twilio's
// messages) before it sends anything again.
func Ambiguous(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.ambiguous
}

// statusOf returns the HTTP status and Twilio code of a failure.
func statusOf(err error) (status, code int) {
	if te, ok := asRestError(err); ok {
		status, code = te.Status, te.Code
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.status != 0 {
		status = ae.status
	}
	return status, code
}
