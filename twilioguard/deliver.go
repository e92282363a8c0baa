package twilioguard

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/safecall"
)

// bookkeepingTimeout bounds a store write or audit entry made after the
// caller's context is done: the outcome of a request must be recorded.
const bookkeepingTimeout = 5 * time.Second

// Waits of a Send for another one (in another process) that holds the
// lease of its delivery.
const (
	firstPoll = 20 * time.Millisecond
	maxPoll   = 500 * time.Millisecond
)

// errLostLease stops a Send whose delivery was taken over by another one
// (its lease ran out): the other one decides.
var errLostLease = errors.New("twilioguard: delivery taken over by another sender")

// storeError is a failure of the DeliveryStore, which says nothing of
// Twilio: breakers do not count it.
type storeError struct{ err error }

func (e *storeError) Error() string { return "twilioguard: delivery store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// deliver records m and sends it, or finds what became of an earlier Send
// of its key.
func (g *Guard) deliver(ctx context.Context, m Message, sl *slot) (Delivery, error) {
	now := g.now()
	d, created, err := g.store.Create(ctx, Delivery{
		OrgID: m.OrgID, Key: m.Key, To: m.To, From: m.From,
		Status:     Pending,
		Attempts:   1, // the first attempt is counted when it is recorded
		LeaseUntil: now.Add(g.lease),
		CreatedAt:  now,
		UpdatedAt:  now,
	})
	if err != nil {
		return Delivery{OrgID: m.OrgID, Key: m.Key, To: m.To, From: m.From},
			g.newError(m, Delivery{}, 0, safecall.Mark(&storeError{err}, safecall.Temporary))
	}
	for {
		if !created {
			var done bool
			d, done, err = g.claim(ctx, d)
			if done || err != nil {
				if err != nil {
					err = g.newError(m, d, 0, err)
				}
				return d, err
			}
		}
		s := &sending{g: g, m: m, d: d, counted: created, slot: sl}
		d, err = s.run(ctx)
		if !s.lostLease {
			return d, err
		}
		// Another Send took the delivery over: see what it does.
		created = false
		if d, err = g.store.Get(ctx, m.OrgID, m.Key); err != nil {
			return d, g.newError(m, d, s.made, safecall.Mark(&storeError{err}, safecall.Temporary))
		}
	}
}

// claim decides what to do with a delivery that already exists: return it
// (done), wait for the Send that holds its lease, or take it over (not
// done: the caller sends, reconciling first if it is Unknown).
func (g *Guard) claim(ctx context.Context, d Delivery) (Delivery, bool, error) {
	poll := firstPoll
	for {
		now := g.now()
		switch {
		case d.SID != "":
			return d, true, nil
		case d.Status != Pending && d.Status != Unknown:
			return d, true, refused(d)
		case d.LeaseUntil.After(now):
			if err := sleep(ctx, poll); err != nil {
				return d, true, safecall.Mark(err, safecall.Canceled)
			}
			poll = min(2*poll, maxPoll)
		default:
			take := d
			if take.Status == Pending && !take.LeaseUntil.IsZero() && take.Attempts > 0 {
				// Its Send vanished while it held the lease, perhaps with a
				// request in flight: find out before sending again.
				take.Status = Unknown
			}
			take.LeaseUntil, take.UpdatedAt = now.Add(g.lease), now
			stored, err := g.store.Update(ctx, take)
			if err == nil {
				return stored, false, nil
			}
			if !errors.Is(err, ErrConflict) {
				return d, true, safecall.Mark(&storeError{err}, safecall.Temporary)
			}
		}
		var err error
		if d, err = g.store.Get(ctx, d.OrgID, d.Key); err != nil {
			return d, true, safecall.Mark(&storeError{err}, safecall.Temporary)
		}
	}
}

// refused is the error of a delivery Twilio refused for good, found by a
// later Send: Twilio's code again, no request.
func refused(d Delivery) error {
	return safecall.Mark(&client.TwilioRestError{
		Code:     d.ErrorCode,
		Status:   http.StatusBadRequest,
		Message:  "refused by Twilio on an earlier attempt",
		MoreInfo: "https://www.twilio.com/docs/errors/" + itoa(d.ErrorCode),
	}, safecall.Permanent)
}

// sending is one Send's work on a delivery it holds the lease of.
type sending struct {
	g       *Guard
	m       Message
	d       Delivery // as stored
	counted bool     // d.Attempts already counts the next attempt
	slot    *slot    // a batch worker's request slot; nil outside SendBatch

	made      int      // create requests this Send made
	accepted  Delivery // accepted by Twilio (it has a SID); recorded once d has one
	lostLease bool
}

// run makes the attempts, through safecall (retries, backoff, the org's
// breaker), and releases the lease when it gives up.
func (s *sending) run(ctx context.Context) (Delivery, error) {
	g := s.g
	var buf [8]safecall.Option // on the stack, unless a user passed many options
	opts := append(append(buf[:0], g.callOpts...), safecall.WithBreaker(orgBreaker{g.breakers.Get(s.m.OrgID)}))
	d, err := safecall.Call(ctx, "twilio.send", s.attempt, opts...)
	if err == nil {
		g.recent.add(g.now(), false)
		return d, nil
	}
	if s.lostLease {
		return s.d, err
	}
	s.release(ctx)
	if safecall.ClassOf(err) != safecall.Canceled {
		g.recent.add(g.now(), true)
	}
	d = s.d
	if s.accepted.SID != "" && d.SID == "" {
		d = s.accepted // sent, though not recorded: the caller may know
	}
	return d, g.newError(s.m, d, s.made, err)
}

// attempt is one try: reconcile if the delivery is Unknown, then create.
func (s *sending) attempt(ctx context.Context) (d Delivery, err error) {
	if s.accepted.SID != "" && s.d.SID == "" {
		// Accepted by an earlier attempt, whose record failed: record it.
		return s.record(ctx, s.accepted)
	}
	if s.slot != nil {
		if err := s.slot.retake(ctx); err != nil {
			return s.d, err
		}
		defer func() {
			if err != nil {
				s.slot.release() // no slot held while waiting to retry
			}
		}()
	}
	if s.d.Status == Unknown {
		found, err := s.reconcile(ctx)
		if err != nil {
			s.g.logFailure(ctx, "twilioguard: reconcile failed", s.entry("", s.d.Attempts, err, nil))
		}
		if err != nil || found {
			return s.d, err
		}
	}
	return s.create(ctx)
}

// create records the attempt, sends the create request and records what
// came of it.
func (s *sending) create(ctx context.Context) (Delivery, error) {
	g := s.g
	if !s.counted || s.d.Status != Pending {
		now := g.now()
		next := s.d
		next.Status, next.Attempts = Pending, next.Attempts+1
		next.LeaseUntil, next.UpdatedAt = now.Add(g.lease), now
		if err := s.put(ctx, next); err != nil {
			return s.d, err
		}
	}
	s.counted = false
	attempt := s.d.Attempts
	s.audit(ctx, EventAttempt, attempt, nil, nil)

	c := g.newCall(ctx)
	defer g.release(c)
	msg, err := c.create(s.m, &g.cfg)
	s.made++
	next := s.d
	next.UpdatedAt = g.now()
	if err == nil {
		next.SID, next.Status, next.ErrorCode = *msg.Sid, Queued, 0
		if msg.Status != nil {
			if st := twilioStatus(*msg.Status); st != "" { // one Twilio reports, that the guard knows
				next.Status = st
			}
		}
		if msg.ErrorCode != nil {
			next.ErrorCode = *msg.ErrorCode
		}
		next.LeaseUntil = time.Time{}
		s.audit(ctx, EventAccepted, attempt, nil, &next)
		s.accepted = next
		return s.record(ctx, next)
	}
	class := Classify(err)
	_, code := statusOf(err)
	switch {
	case Ambiguous(err):
		next.Status = Unknown
		s.audit(ctx, EventLost, attempt, err, nil)
	case class == safecall.Permanent && code != 0:
		// Twilio refused the message for good. (A 4xx page from a proxy
		// says nothing of the message: the delivery stays Pending.)
		next.Status, next.ErrorCode, next.LeaseUntil = Failed, code, time.Time{}
		s.audit(ctx, EventRejected, attempt, err, nil)
	default: // Twilio did not create the message
		if !c.t.wrote.Load() && c.t.status == 0 {
			next.Attempts-- // the request never left
			s.made--
		}
		s.audit(ctx, EventFailed, attempt, err, nil)
	}
	if _, perr := s.record(ctx, next); perr != nil && !s.lostLease {
		return s.d, errors.Join(err, perr)
	}
	return s.d, err
}

// record stores next after a request, even if ctx is done: the outcome
// of a request must not be lost.
func (s *sending) record(ctx context.Context, next Delivery) (Delivery, error) {
	if ctx.Done() != nil { // a context that can end: record under one that cannot, bounded
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer cancel()
	}
	if err := s.put(ctx, next); err != nil {
		return s.d, err
	}
	return s.d, nil
}

// put stores next over s.d (compare-and-swap on its version).
func (s *sending) put(ctx context.Context, next Delivery) error {
	stored, err := s.g.store.Update(ctx, next)
	switch {
	case err == nil:
		s.d = stored
		return nil
	case errors.Is(err, ErrConflict):
		s.lostLease = true
		return safecall.Mark(errLostLease, safecall.Permanent)
	}
	return safecall.Mark(&storeError{err}, safecall.Temporary)
}

// release gives the lease of a delivery that Send leaves Pending or
// Unknown back, so that the next Send need not wait for it to run out.
func (s *sending) release(ctx context.Context) {
	if s.d.SID != "" || (s.d.Status != Pending && s.d.Status != Unknown) || s.d.LeaseUntil.IsZero() {
		return
	}
	if s.accepted.SID != "" {
		return // a message exists that the store does not know: let the lease run out, then reconcile
	}
	next := s.d
	next.LeaseUntil, next.UpdatedAt = time.Time{}, s.g.now()
	if s.counted {
		next.Attempts-- // counted in advance, never made (an open breaker, a done context)
	}
	_, _ = s.record(ctx, next)
}

// audit records an entry about this delivery, if anyone listens: next,
// when given, is the delivery with its SID and status.
func (s *sending) audit(ctx context.Context, ev AuditEvent, attempt int, err error, next *Delivery) {
	if s.g.sink != nil || s.g.log != nil {
		s.g.audit(ctx, s.entry(ev, attempt, err, next))
	}
}

// entry is an audit entry about this delivery.
func (s *sending) entry(ev AuditEvent, attempt int, err error, next *Delivery) AuditEntry {
	e := AuditEntry{OrgID: s.m.OrgID, Key: s.m.Key, Event: ev, To: Mask(s.m.To), Attempt: attempt}
	if err != nil {
		e.Class = Classify(err).String()
		e.HTTPStatus, e.Code = statusOf(err)
	}
	if next != nil {
		e.SID, e.Status = next.SID, next.Status
	}
	return e
}

// newError builds the *Error Send returns.
func (g *Guard) newError(m Message, d Delivery, attempts int, err error) *Error {
	status, code := statusOf(err)
	return &Error{
		OrgID:      m.OrgID,
		Key:        m.Key,
		To:         Mask(m.To),
		Class:      safecall.ClassOf(err),
		Code:       code,
		HTTPStatus: status,
		Attempts:   attempts,
		Status:     d.Status,
		Err:        err,
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
