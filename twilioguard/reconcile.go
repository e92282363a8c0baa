package twilioguard

import (
	"context"
	"errors"
	"strings"
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
// the messages to its number from its sender:
//
//  1. the newest page, unfiltered by date: a message still queued has no
//     date_sent and escapes any DateSent filter;
//  2. if that page was not the only one, the messages sent since the day
//     of the first attempt (DateSent>, which Twilio applies by day), page
//     after page, newest first, until one sent before the first attempt.
//
// A message matches when its body is the delivery's, it was created after
// the first attempt (less clockSkew) and no other delivery has its SID.
// When one matches the delivery records it and reconcile reports true.
func (s *sending) reconcile(ctx context.Context) (bool, error) {
	g := s.g
	c := g.newCall(ctx)
	cutoff := s.d.CreatedAt.Add(-clockSkew)
	params := func() *openapi.ListMessageParams {
		p := &openapi.ListMessageParams{}
		p.SetTo(s.d.To)
		if s.d.From != "" {
			p.SetFrom(s.d.From)
		}
		return p.SetPageSize(reconcilePageSize)
	}

	page, err := c.list(params())
	if err != nil {
		return false, err
	}
	if m, err := s.match(ctx, page.Messages, cutoff); m != nil || err != nil {
		return m != nil, err
	}
	if page.NextPageUri != nil && *page.NextPageUri != "" {
		day := cutoff.UTC().Truncate(24 * time.Hour)
		page, err = c.list(params().SetDateSentAfter(day))
		for pages := 1; err == nil && page != nil; pages++ {
			if m, err := s.match(ctx, page.Messages, cutoff); m != nil || err != nil {
				return m != nil, err
			}
			if sentBefore(page.Messages, cutoff) {
				break // newest first: the rest were sent before the first attempt
			}
			if pages == reconcileMaxPages {
				return false, safecall.Mark(errTooManyMessages, safecall.Permanent)
			}
			page, err = c.next(page)
		}
		if err != nil {
			return false, err
		}
	}
	s.audit(ctx, EventMissing, s.d.Attempts, nil, nil)
	return false, nil
}

// sentBefore reports whether the last message of a page, newest first,
// was sent before t.
func sentBefore(msgs []openapi.ApiV2010Message, t time.Time) bool {
	if len(msgs) == 0 {
		return false
	}
	last := msgs[len(msgs)-1].DateSent
	if last == nil {
		return false
	}
	sent, err := time.Parse(time.RFC1123Z, *last)
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
		if m.Direction != nil && !strings.HasPrefix(*m.Direction, "outbound") {
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
		if m.Status != nil && Status(*m.Status).rank() > 0 {
			next.Status = Status(*m.Status)
		}
		if m.ErrorCode != nil {
			next.ErrorCode = *m.ErrorCode
		}
		next.LeaseUntil, next.UpdatedAt = time.Time{}, s.g.now()
		s.audit(ctx, EventReconciled, s.d.Attempts, nil, &next)
		s.accepted = &next
		if _, err := s.record(ctx, next); err != nil {
			return m, err
		}
		return m, nil
	}
	return nil, nil
}
