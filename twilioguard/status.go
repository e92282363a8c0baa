package twilioguard

import "time"

// Status is the state of a delivery: one of Twilio's message statuses, or
// Pending or Unknown, which are the guard's own.
type Status string

// Twilio's statuses of an outbound message, in the order they are reached.
const (
	Accepted  Status = "accepted" // received through a Messaging Service, sender not yet chosen
	Scheduled Status = "scheduled"
	Queued    Status = "queued" // accepted, waiting to be sent
	Sending   Status = "sending"
	Sent      Status = "sent" // handed to the carrier
	// Final statuses.
	Delivered          Status = "delivered"
	Undelivered        Status = "undelivered"
	Failed             Status = "failed" // not sent; also a create that Twilio rejected
	Canceled           Status = "canceled"
	PartiallyDelivered Status = "partially_delivered"
	Read               Status = "read" // after Delivered, on channels that report it
)

// The guard's own statuses.
const (
	// Pending is a delivery recorded before its create request, not yet
	// accepted by Twilio.
	Pending Status = "pending"
	// Unknown is a delivery whose create request may or may not have
	// reached Twilio (the answer was lost): it is reconciled before any
	// new request.
	Unknown Status = "unknown"
)

// rank orders statuses as Twilio moves through them; a status never moves
// to one of lower or equal rank. Final statuses share a rank (the first
// one reported wins) except Read, which follows Delivered. Statuses the
// guard does not know rank -1 and are ignored.
func (s Status) rank() int {
	switch s {
	case Pending, Unknown:
		return 0
	case Accepted:
		return 1
	case Scheduled:
		return 2
	case Queued:
		return 3
	case Sending:
		return 4
	case Sent:
		return 5
	case Delivered, Undelivered, Failed, Canceled, PartiallyDelivered:
		return 6
	case Read:
		return 7
	}
	return -1
}

// statuses are Twilio's statuses the guard knows.
var statuses = [...]Status{
	Accepted, Scheduled, Queued, Sending, Sent,
	Delivered, Undelivered, Failed, Canceled, PartiallyDelivered, Read,
}

// twilioStatus returns the constant of a status Twilio reports, or "" if
// the guard does not know it. A stored delivery then holds a constant,
// not a piece of the answer or callback it was read from.
func twilioStatus(s string) Status {
	for _, k := range statuses {
		if string(k) == s {
			return k
		}
	}
	return ""
}

// Final reports whether s is a status Twilio does not move on from
// (Read aside, which may follow Delivered).
func (s Status) Final() bool { return s.rank() >= 6 }

// failed reports whether s is a final status of a message that did not
// reach the phone.
func (s Status) failed() bool { return s == Undelivered || s == Failed || s == Canceled }

// Delivery is the record of one message, kept by a DeliveryStore under its
// (OrgID, Key).
type Delivery struct {
	OrgID string
	Key   string
	// To is the recipient in E.164 form; From the sender ("" when a
	// Messaging Service chooses it).
	To   string
	From string
	// SID is Twilio's message SID, "" until Twilio accepted the message.
	SID string
	// Status is what Twilio last said of the message, or Pending or Unknown.
	Status Status
	// ErrorCode is Twilio's error code: of a rejected create, or of a
	// failed or undelivered message. 0 when none.
	ErrorCode int
	// Attempts counts the create requests sent to Twilio.
	Attempts int
	// Version increases by one with every stored change; the store's
	// Update is a compare-and-swap on it.
	Version int64
	// LeaseUntil, while in the future, says that a Send (in this process
	// or another) is working on a delivery that is Pending or Unknown;
	// others wait for it. Zero when nobody is.
	LeaseUntil time.Time
	// CreatedAt is when the delivery was recorded, just before its first
	// attempt; UpdatedAt when it last changed.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Accepted reports whether Twilio has accepted the message (it has a SID).
func (d Delivery) Accepted() bool { return d.SID != "" }
