package twilioguard

import (
	"context"
	"errors"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/safecall"
)

const (
	// clockSkew is how much earlier than its first attempt (by our clock)
	// Twilio may have dated a message.
	clockSkew = 2 * time.Minute
	// reconcilePageSize and reconcileMaxPages bound a reconciliation.
	reconcilePageSize = 50
	reconcileMaxPages = 20
)

// errTooManyMessages stops a reconciliation that would read more pages
// than reconcileMaxPages: the delivery stays Unknown rather than risk a
// second text.
var errTooManyMessages = errors.New("twilioguard: too many messages to reconcile")

// reconcile looks for the message of an Unknown delivery at Twilio, among
// the messages to its number from its sender, newest first:
//
//  1. unfiltered by date, page after page while they hold messages not
//     yet sent, which have no date_sent and escape any DateSent filter
//     (Twilio lists them first);
//  2. unless that was every page, the messages sent since the day of the
//     first attempt (DateSent>, which Twilio applies by day), page after
//     page until one sent before the first attempt.
//
// A message matches when its body is the delivery's, it was created after
// the first attempt (less clockSkew) and no other delivery has its SID.
// When one matches the delivery records it and reconcile reports true.
// Reading more than reconcileMaxPages pages in a pass is an error.
func (s *sending) reconcile(ctx context.Context) (bool, error) {
	c := s.g.newCall(ctx)
	defer s.g.release(c)
	cutoff := s.d.CreatedAt.Add(-clockSkew)
	params := func() *openapi.ListMessageParams {
		p := &openapi.ListMessageParams{}
		p.SetTo(s.d.To)
		if s.d.From != "" {
			p.SetFrom(s.d.From)
		}
		return p.SetPageSize(reconcilePageSize)
	}
	found, all, err := s.scan(ctx, c, params(), cutoff, func(msgs []openapi.ApiV2010Message) bool {
		return msgs[len(msgs)-1].DateSent != nil // the messages not yet sent are behind
	})
	if found || all || err != nil {
		if !found && err == nil {
			s.audit(ctx, EventMissing, s.d.Attempts, nil, nil)
		}
		return found, err
	}
	day := cutoff.UTC().Truncate(24 * time.Hour)
	found, _, err = s.scan(ctx, c, params().SetDateSentAfter(day), cutoff, func(msgs []openapi.ApiV2010Message) bool {
		return sentBefore(msgs[len(msgs)-1], cutoff) // the rest were sent earlier still
	})
	if !found && err == nil {
		s.audit(ctx, EventMissing, s.d.Attempts, nil, nil)
	}
	return found, err
}

// scan lists the messages p selects, page after page, until one matches
// (found), the last page is read (all), or enough says that the pages
// after this one cannot match.
func (s *sending) scan(ctx context.Context, c *call, p *openapi.ListMessageParams, cutoff time.Time,
	enough func([]openapi.ApiV2010Message) bool) (found, all bool, err error) {
	page, err := c.list(p)
	for pages := 1; err == nil; pages++ {
		if m, err := s.match(ctx, page.Messages, cutoff); m != nil || err != nil {
			return m != nil, false, err
		}
		switch {
		case page.NextPageUri == nil || *page.NextPageUri == "":
			return false, true, nil
		case len(page.Messages) == 0 || enough(page.Messages):
			return false, false, nil
		case pages == reconcileMaxPages:
			return false, false, safecall.Mark(errTooManyMessages, safecall.Permanent)
		}
		page, err = c.next(page)
	}
	return false, false, err
}

// sentBefore reports whether m was sent before t.
func sentBefore(m openapi.ApiV2010Message, t time.Time) bool {
	if m.DateSent == nil {
		return false
	}
	sent, err := time.Parse(time.RFC1123Z, *m.DateSent)
	return err == nil && sent.Before(t)
}

// match records the first message of msgs that is the delivery's and
// returns it, or nil.
func (s *sending) match(ctx context.Context, msgs []openapi.ApiV2010Message, cutoff time.Time) (*openapi.ApiV2010Message, error) {
	for i := range msgs {
		m := &msgs[i]
		if m.Sid == nil || *m.Sid == "" || m.Body == nil || *m.Body != s.m.Body ||
			m.To == nil || *m.To != s.d.To {
			continue
		}
		if m.DateCreated != nil {
			if created, err := time.Parse(time.RFC1123Z, *m.DateCreated); err == nil && created.Before(cutoff) {
				continue
			}
		}
		if s.d.From == "" && s.g.cfg.MessagingServiceSID != "" && m.MessagingServiceSid != nil &&
			*m.MessagingServiceSid != s.g.cfg.MessagingServiceSID {
			continue
		}
		other, err := s.g.store.BySID(ctx, *m.Sid)
		switch {
		case err == nil && (other.OrgID != s.d.OrgID || other.Key != s.d.Key):
			continue // another delivery's message with the same text
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, safecall.Mark(&storeError{err}, safecall.Temporary)
		}
		next := s.d
		next.SID, next.Status, next.ErrorCode = *m.Sid, Queued, 0
		if m.Status != nil {
			if st := twilioStatus(*m.Status); st != "" { // one Twilio reports, that the guard knows
				next.Status = st
			}
		}
		if m.ErrorCode != nil {
			next.ErrorCode = *m.ErrorCode
		}
		next.LeaseUntil, next.UpdatedAt = time.Time{}, s.g.now()
		s.audit(ctx, EventReconciled, s.d.Attempts, nil, &next)
		s.accepted = next
		if _, err := s.record(ctx, next); err != nil {
			return m, err
		}
		return m, nil
	}
	return nil, nil
}
