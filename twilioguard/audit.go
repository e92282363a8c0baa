package twilioguard

import (
	"context"
	"log/slog"
	"time"
)

// AuditSink records what happened to every message: an entry per create
// attempt and per outcome. twilioguard/sqlstore keeps them in a table.
// Audit is called synchronously by Send and by the StatusHandler; an error
// is logged and does not fail the send.
type AuditSink interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// AuditFunc adapts a function to an AuditSink.
type AuditFunc func(ctx context.Context, e AuditEntry) error

// Audit calls f.
func (f AuditFunc) Audit(ctx context.Context, e AuditEntry) error { return f(ctx, e) }

// AuditEvent says what an AuditEntry records.
type AuditEvent string

// Audit events, in the order a message may go through them.
const (
	// EventAttempt: a create request is about to be sent.
	EventAttempt AuditEvent = "attempt"
	// EventAccepted: Twilio accepted the message; SID and Status are set.
	EventAccepted AuditEvent = "accepted"
	// EventRejected: Twilio refused the message for good (a Permanent
	// code such as 21211 or 21610); no message exists.
	EventRejected AuditEvent = "rejected"
	// EventFailed: the attempt failed without creating a message (a rate
	// limit, a refused credential, a refused connection); Send may retry.
	EventFailed AuditEvent = "failed"
	// EventLost: the answer was lost (a 5xx, a timeout or reset after the
	// request was written, an undecodable answer); the delivery is Unknown.
	EventLost AuditEvent = "lost"
	// EventReconciled: listing Twilio's messages found the one whose answer
	// was lost; SID and Status are set.
	EventReconciled AuditEvent = "reconciled"
	// EventMissing: listing Twilio's messages found none, so the message is
	// created again.
	EventMissing AuditEvent = "missing"
	// EventStatus: a status callback moved the delivery on.
	EventStatus AuditEvent = "status"
)

// AuditEntry is one line of a message's audit trail. It carries codes and
// a masked number, never the full number, the body, a credential or
// Twilio's error text.
type AuditEntry struct {
	At    time.Time
	OrgID string
	Key   string
	Event AuditEvent
	// To is the recipient, masked: "+1******4567".
	To string
	// Attempt is the number of the create attempt (from 1) the entry is
	// about; 0 for a status callback.
	Attempt int
	// Class is the class of a failure ("rate-limit", "permanent"...), ""
	// when the entry records no failure.
	Class string
	// Code is Twilio's error code; HTTPStatus the status of its answer.
	Code       int
	HTTPStatus int
	SID        string
	Status     Status
}

// LogValue logs an entry as its fields, which hold nothing secret.
func (e AuditEntry) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("org", e.OrgID), slog.String("key", e.Key)}
	if e.Event != "" {
		attrs = append(attrs, slog.String("event", string(e.Event)))
	}
	attrs = append(attrs, slog.String("to", e.To))
	if e.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", e.Attempt))
	}
	if e.Class != "" {
		attrs = append(attrs, slog.String("class", e.Class))
	}
	if e.Code != 0 {
		attrs = append(attrs, slog.Int("code", e.Code))
	}
	if e.HTTPStatus != 0 {
		attrs = append(attrs, slog.Int("http_status", e.HTTPStatus))
	}
	if e.SID != "" {
		attrs = append(attrs, slog.String("sid", e.SID))
	}
	if e.Status != "" {
		attrs = append(attrs, slog.String("status", string(e.Status)))
	}
	return slog.GroupValue(attrs...)
}

// audit records e with the sink and the logger, if any. A context that is
// done does not stop it: the record matters most when the caller gave up.
func (g *Guard) audit(ctx context.Context, e AuditEntry) {
	e.At = g.now()
	if g.log != nil {
		level := slog.LevelInfo
		switch e.Event {
		case EventLost, EventFailed, EventRejected:
			level = slog.LevelWarn
		case EventAttempt, EventStatus:
			level = slog.LevelDebug
		}
		g.log.LogAttrs(ctx, level, "twilioguard: "+string(e.Event), slog.Any("sms", e))
	}
	if g.sink == nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if err := g.sink.Audit(actx, e); err != nil && g.log != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "twilioguard: audit failed",
			slog.String("org", e.OrgID), slog.String("key", e.Key), slog.String("event", string(e.Event)),
			slog.String("error", err.Error()))
	}
}

// logFailure logs a failure that makes no audit entry, such as a failed
// reconciliation, with the fields of e.
func (g *Guard) logFailure(ctx context.Context, msg string, e AuditEntry) {
	if g.log != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.Any("sms", e))
	}
}
