package twilioguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func rest(status, code int) error {
	return &client.TwilioRestError{Status: status, Code: code, Message: "The 'To' number +15551234567 is not valid"}
}

func TestClassify(t *testing.T) {
	reset := &url.Error{Op: "Post", URL: "https://api.twilio.com/x", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}
	refused := &url.Error{Op: "Post", URL: "https://api.twilio.com/x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	htmlDecode := fmt.Errorf("error decoding the response for an HTTP error code: 502: %w", errors.New("invalid character '<'"))
	tests := []struct {
		name      string
		err       error
		class     safecall.Class
		ambiguous bool
	}{
		{"nil", nil, safecall.Unknown, false},
		{"invalid number", invalid(ErrInvalidNumber, "x"), safecall.Permanent, false},
		{"invalid message", fmt.Errorf("wrapped: %w", ErrInvalidMessage), safecall.Permanent, false},
		{"20429 rate limit", rest(429, 20429), safecall.RateLimit, false},
		{"429 without a code", rest(429, 0), safecall.RateLimit, false},
		{"14107 send rate", rest(400, 14107), safecall.RateLimit, false},
		{"21611 queue full", rest(400, 21611), safecall.RateLimit, false},
		{"20003 auth", rest(401, 20003), safecall.Auth, false},
		{"20005 account not active", rest(403, 20005), safecall.Auth, false},
		{"401 without a code", rest(401, 0), safecall.Auth, false},
		{"21211 invalid To", rest(400, 21211), safecall.Permanent, false},
		{"21408 no permission", rest(400, 21408), safecall.Permanent, false},
		{"21610 unsubscribed", rest(400, 21610), safecall.Permanent, false},
		{"21612 unroutable", rest(400, 21612), safecall.Permanent, false},
		{"21614 not mobile", rest(400, 21614), safecall.Permanent, false},
		{"21606 not owned", rest(400, 21606), safecall.Permanent, false},
		{"unknown 4xx code", rest(400, 21999), safecall.Permanent, false},
		{"permanent code whatever the status", rest(0, 21211), safecall.Permanent, false},
		{"20500", rest(500, 20500), safecall.Temporary, false},
		{"20503", rest(503, 20503), safecall.Temporary, false},
		{"500 answered", &apiError{err: rest(500, 20500), status: 500, ambiguous: true}, safecall.Temporary, true},
		{"429 answered", &apiError{err: rest(429, 20429), status: 429, retryAfter: time.Second}, safecall.RateLimit, false},
		{"HTML 502", &apiError{err: htmlDecode, status: 502, ambiguous: true, garbled: true}, safecall.Temporary, true},
		{"HTML 403", &apiError{err: htmlDecode, status: 403, garbled: true}, safecall.Auth, false},
		{"undecodable 201", &apiError{err: io.ErrUnexpectedEOF, status: 201, ambiguous: true, garbled: true}, safecall.Temporary, true},
		{"reset after writing", &apiError{err: reset, ambiguous: true}, safecall.Network, true},
		{"refused before writing", &apiError{err: refused}, safecall.Network, false},
		{"timeout after writing", &apiError{err: &url.Error{Op: "Post", Err: context.DeadlineExceeded}, ambiguous: true}, safecall.Temporary, true},
		{"caller canceled", &apiError{err: &url.Error{Op: "Post", Err: context.Canceled}, ambiguous: true}, safecall.Canceled, true},
		{"breaker open", &breaker.OpenError{Key: "org"}, safecall.CircuitOpen, false},
		{"plain error", errors.New("boom"), safecall.Unknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.class, Classify(tt.err))
			assert.Equal(t, tt.ambiguous, Ambiguous(tt.err))
			assert.Equal(t, tt.ambiguous, Ambiguous(fmt.Errorf("wrapped: %w", tt.err)))
		})
	}
}

func TestAPIErrorTextHoldsNoVendorMessage(t *testing.T) {
	e := &apiError{err: rest(400, 21211), status: 400}
	assert.Equal(t, "twilio: error 21211, HTTP 400", e.Error())
	assert.Equal(t, "twilio: no answer after the request was sent", (&apiError{err: io.EOF, ambiguous: true}).Error())
	assert.Equal(t, "twilio: request not sent", (&apiError{err: io.EOF}).Error())
	assert.Equal(t, "twilio: HTTP 502, answer not understood", (&apiError{err: io.EOF, status: 502, garbled: true}).Error())
	assert.Equal(t, time.Duration(0), e.RetryAfter())
	assert.Equal(t, 400, e.HTTPStatus())
	var te *client.TwilioRestError
	assert.ErrorAs(t, e, &te)
}

func TestStatusRanks(t *testing.T) {
	order := []Status{Pending, Accepted, Scheduled, Queued, Sending, Sent, Delivered, Read}
	for i := 1; i < len(order); i++ {
		assert.Less(t, order[i-1].rank(), order[i].rank(), "%s before %s", order[i-1], order[i])
	}
	for _, s := range []Status{Delivered, Undelivered, Failed, Canceled, PartiallyDelivered} {
		assert.True(t, s.Final(), s)
		assert.Equal(t, 6, s.rank())
	}
	assert.Equal(t, Pending.rank(), Unknown.rank())
	assert.Equal(t, -1, Status("received").rank())
	assert.False(t, Sent.Final())
	assert.True(t, Failed.failed())
	assert.False(t, Delivered.failed())
}

// Every status that ranks above the guard's own is known to twilioStatus,
// which returns the package's constant (not the string it was given).
func TestTwilioStatusKnowsEveryRankedStatus(t *testing.T) {
	for _, s := range []Status{Accepted, Scheduled, Queued, Sending, Sent, Delivered, Undelivered, Failed, Canceled, PartiallyDelivered, Read} {
		read := string([]byte(s)) // as decoded from an answer: another string of the same text
		got := twilioStatus(read)
		assert.Equal(t, s, got)
		assert.Equal(t, unsafe.StringData(string(s)), unsafe.StringData(string(got)), "%s: the constant, not the answer's bytes", s)
	}
	for _, s := range []string{"", "pending", "unknown", "received", "Delivered"} {
		assert.Equal(t, Status(""), twilioStatus(s), "%q", s)
	}
}
