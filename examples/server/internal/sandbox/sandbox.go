// Package sandbox runs the vendors of the reference server in-process on
// loopback: a fake Google Calendar with its OAuth endpoints (gcaltest) and a
// fake Twilio (twiliotest), both speaking the real wire formats so that the
// server's real gcal and twilioguard clients talk to them unchanged. One
// Sandbox can serve several server instances, which then see the same
// calendars and messages.
//
// Each clinic gets a Google account of its own (Account) and an SMS sender
// of its own (Sender), so that Script can give one clinic an outage while
// the others work.
package sandbox

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// Options configures a Sandbox; the zero value is usable.
type Options struct {
	// SMSStep is how long each accepted text takes to reach the next
	// status of SMSStatuses, with a signed status callback for each
	// (default 500ms).
	SMSStep time.Duration
	// SMSStatuses are the statuses a text goes through after "queued"
	// (default "sent", "delivered"); none, with NoSMSLifecycle.
	SMSStatuses []string
	// NoSMSLifecycle leaves texts queued: a test moves them with
	// SMS.Advance.
	NoSMSLifecycle bool
	// TokenLifetime is how long Google access tokens last (default an
	// hour).
	TokenLifetime time.Duration
	// Now is the vendors' clock (nil: time.Now).
	Now func() time.Time
}

// Sandbox is a fake Google Calendar and a fake Twilio on loopback.
type Sandbox struct {
	Calendar *gcaltest.Server
	SMS      *twiliotest.Server
}

// Start starts a Sandbox; Close stops it.
func Start(opts Options) *Sandbox {
	if opts.SMSStep <= 0 {
		opts.SMSStep = 500 * time.Millisecond
	}
	if len(opts.SMSStatuses) == 0 {
		opts.SMSStatuses = []string{"sent", "delivered"}
	}
	var smsOpts []twiliotest.Option
	if !opts.NoSMSLifecycle {
		smsOpts = append(smsOpts, twiliotest.WithLifecycle(opts.SMSStep, opts.SMSStatuses...))
	}
	if opts.Now != nil {
		smsOpts = append(smsOpts, twiliotest.WithClock(opts.Now))
	}
	return &Sandbox{
		Calendar: gcaltest.NewServer(gcaltest.Options{TokenLifetime: opts.TokenLifetime, Now: opts.Now}),
		SMS:      twiliotest.NewServer(smsOpts...),
	}
}

// Close stops both vendors.
func (s *Sandbox) Close() {
	s.SMS.Close()
	s.Calendar.Close()
}

// Account is the Google account of a clinic in the sandbox: the server asks
// the consent page for it (login_hint), and its primary calendar is the
// clinic's, Calendar.Events(Account(org)).
func Account(org string) string { return "clinic-" + org + "@sandbox.example" }

// Sender is the SMS number of a clinic in the sandbox, from which its texts
// are sent: "+1555" and seven digits derived from org.
func Sender(org string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(org))
	return "+1555" + fmt.Sprintf("%07d", h.Sum32()%10_000_000)
}

// Vendor names a vendor of the sandbox.
type Vendor string

// The vendors.
const (
	Calendar Vendor = "calendar"
	SMS      Vendor = "sms"
)

// Kind is a kind of scripted failure.
type Kind string

// The failures Script knows.
const (
	// Outage: every request fails with 503 until Clear (or Times requests).
	Outage Kind = "outage"
	// RateLimit: requests are refused with 429 and Retry-After: 1.
	RateLimit Kind = "rate-limit"
	// Slow: requests are answered after Delay (default 3s).
	Slow Kind = "slow"
	// Clear ends what was scripted for the clinic.
	Clear Kind = "clear"
)

// Fault is a failure to script for one clinic.
type Fault struct {
	Vendor Vendor
	Kind   Kind
	// Times is how many requests it applies to; 0 means until Clear.
	Times int
	// Delay is the delay of Slow.
	Delay time.Duration
}

// ErrUnknownFault is a Fault whose Vendor or Kind Script does not know.
var ErrUnknownFault = errors.New("sandbox: unknown vendor or kind of fault")

// untilCleared is the Times of a twiliotest fault that lasts until
// Unscript.
const untilCleared = 1 << 30

// Script makes the vendor fail for one clinic as f says.
func (s *Sandbox) Script(org string, f Fault) error {
	if f.Delay <= 0 {
		f.Delay = 3 * time.Second
	}
	switch f.Vendor {
	case Calendar:
		g := gcaltest.Fault{Account: Account(org), Times: f.Times}
		if g.Times == 0 {
			g.Times = -1
		}
		switch f.Kind {
		case Outage:
			g.Status = 503
		case RateLimit:
			g.Status, g.RetryAfter = 429, "1"
		case Slow:
			g.Delay = f.Delay
		case Clear:
			s.Calendar.ClearAccountFaults(Account(org))
			return nil
		default:
			return fmt.Errorf("%w: %q", ErrUnknownFault, f.Kind)
		}
		s.Calendar.Fail(g)
	case SMS:
		t := twiliotest.Fault{Op: twiliotest.Any, Times: f.Times}
		if t.Times == 0 {
			t.Times = untilCleared
		}
		switch f.Kind {
		case Outage:
			t.Status = 503
		case RateLimit:
			t.Status, t.RetryAfter = 429, "1"
		case Slow:
			t.Delay = f.Delay
		case Clear:
			s.SMS.Unscript(Sender(org))
			return nil
		default:
			return fmt.Errorf("%w: %q", ErrUnknownFault, f.Kind)
		}
		s.SMS.Script(Sender(org), t)
	default:
		return fmt.Errorf("%w: vendor %q", ErrUnknownFault, f.Vendor)
	}
	return nil
}

// Texts returns the texts the fake Twilio accepted for the number to.
func (s *Sandbox) Texts(to string) []string {
	var out []string
	for _, m := range s.SMS.Messages() {
		if m.To == to {
			out = append(out, m.Body)
		}
	}
	return out
}
