package gcal

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"

	"github.com/voxanne/resilience/safecall"
)

// ErrInvalidBooking: a booking without a Key, or without a time range that
// ends after it starts. Its class is Permanent.
var ErrInvalidBooking = errors.New("gcal: invalid booking")

// Booking is an appointment to put in an organisation's calendar.
type Booking struct {
	// Key identifies the booking for its organisation, e.g. the id of the
	// phone call and slot: one event per (organisation, Key), ever.
	// Required.
	Key string
	// CalendarID overrides the link's calendar; "" uses it.
	CalendarID  string
	Summary     string
	Description string
	Location    string
	// Start and End bound the appointment; End must be after Start.
	Start, End time.Time
	// TimeZone is an IANA name ("Europe/London") kept with the event;
	// "" leaves it to the calendar.
	TimeZone string
	// Attendees are email addresses invited to the event.
	Attendees []string
}

// Event is a booked event.
type Event struct {
	ID string
	// CalendarID is the calendar used, "primary" when the link names none.
	CalendarID string
	Summary    string
	// Status is Google's: "confirmed", "tentative" or "cancelled".
	Status     string
	HTMLLink   string
	Start, End time.Time
	// Created is false when the event already existed: booked before with
	// the same key, or by an earlier attempt whose answer was lost.
	Created bool
}

// Interval is a busy period.
type Interval struct {
	Start, End time.Time
}

// EventID returns the Google event id of the booking key of orgID: the
// SHA-256 of the length-prefixed pair in lower-case base32hex (52
// characters of a-v and 0-9), the same on every call and instance and
// distinct for distinct pairs.
func EventID(orgID, key string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("gcal.EventID/v1\x00"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(orgID)))])
	h.Write([]byte(orgID))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return eventIDEncoding.EncodeToString(h.Sum(sum[:0]))
}

// eventIDEncoding is base32hex in lower case, without padding: the
// alphabet of Google event ids.
var eventIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func (b *Booking) validate() error {
	switch {
	case b.Key == "":
		return invalidBooking("no Key")
	case b.Start.IsZero() || b.End.IsZero():
		return invalidBooking("Start and End are required")
	case !b.End.After(b.Start):
		return invalidBooking("End must be after Start")
	}
	return nil
}

func invalidBooking(why string) error {
	return safecall.Mark(fmt.Errorf("%w: %s", ErrInvalidBooking, why), safecall.Permanent)
}

// event returns the Calendar API event of b, with id.
func (b *Booking) event(id string) *calendar.Event {
	e := &calendar.Event{
		Id:          id,
		Summary:     b.Summary,
		Description: b.Description,
		Location:    b.Location,
		Start:       &calendar.EventDateTime{DateTime: b.Start.Format(time.RFC3339), TimeZone: b.TimeZone},
		End:         &calendar.EventDateTime{DateTime: b.End.Format(time.RFC3339), TimeZone: b.TimeZone},
	}
	for _, a := range b.Attendees {
		e.Attendees = append(e.Attendees, &calendar.EventAttendee{Email: a})
	}
	return e
}

// Book puts b in orgID's calendar, once: the event id is EventID(orgID,
// b.Key), so a retry after a lost answer, or a second Book with the same
// key, finds the event already there and returns it with Created false.
// Errors are *safecall.Error (or match ErrInvalidBooking): ErrNotLinked and
// ErrRelinkRequired are class Auth, with the sentence of WithUserMessage.
func (c *Client) Book(ctx context.Context, orgID string, b Booking) (Event, error) {
	if err := b.validate(); err != nil {
		return Event{}, err
	}
	s, err := c.session(ctx, "gcal.book", orgID)
	if err != nil {
		return Event{}, err
	}
	calID := cmp.Or(b.CalendarID, s.link.CalendarID, "primary")
	id := EventID(orgID, b.Key)
	body := b.event(id)
	return call(ctx, s, "gcal.book", func(ctx context.Context, auth string) (Event, error) {
		ins := c.svc.Events.Insert(calID, body).Context(ctx)
		ins.Header().Set("Authorization", auth)
		got, err := ins.Do()
		created := true
		if hasStatus(err, http.StatusConflict) {
			get := c.svc.Events.Get(calID, id).Context(ctx)
			get.Header().Set("Authorization", auth)
			got, err = get.Do()
			created = false
		}
		if err != nil {
			return Event{}, err
		}
		return toEvent(got, calID, created), nil
	})
}

// Cancel cancels the booking key of orgID in the link's calendar. Cancelling
// a booking that is already cancelled, or that was never made, succeeds.
func (c *Client) Cancel(ctx context.Context, orgID, key string) error {
	if key == "" {
		return invalidBooking("no Key")
	}
	s, err := c.session(ctx, "gcal.cancel", orgID)
	if err != nil {
		return err
	}
	calID := cmp.Or(s.link.CalendarID, "primary")
	id := EventID(orgID, key)
	_, err = call(ctx, s, "gcal.cancel", func(ctx context.Context, auth string) (struct{}, error) {
		del := c.svc.Events.Delete(calID, id).Context(ctx)
		del.Header().Set("Authorization", auth)
		err := del.Do()
		if hasStatus(err, http.StatusNotFound) || hasStatus(err, http.StatusGone) {
			err = nil
		}
		return struct{}{}, err
	})
	return err
}

// Busy returns the busy periods of the link's calendar between from and to,
// from Google's freeBusy query.
func (c *Client) Busy(ctx context.Context, orgID string, from, to time.Time) ([]Interval, error) {
	if !to.After(from) {
		return nil, invalidBooking("the end of a busy query must be after its start")
	}
	s, err := c.session(ctx, "gcal.busy", orgID)
	if err != nil {
		return nil, err
	}
	calID := cmp.Or(s.link.CalendarID, "primary")
	req := &calendar.FreeBusyRequest{
		TimeMin: from.Format(time.RFC3339),
		TimeMax: to.Format(time.RFC3339),
		Items:   []*calendar.FreeBusyRequestItem{{Id: calID}},
	}
	return call(ctx, s, "gcal.busy", func(ctx context.Context, auth string) ([]Interval, error) {
		q := c.svc.Freebusy.Query(req).Context(ctx)
		q.Header().Set("Authorization", auth)
		resp, err := q.Do()
		if err != nil {
			return nil, err
		}
		return busyIntervals(resp, calID)
	})
}

// busyIntervals reads the answer of freeBusy for calID.
func busyIntervals(resp *calendar.FreeBusyResponse, calID string) ([]Interval, error) {
	fc, ok := resp.Calendars[calID]
	if !ok {
		return nil, fmt.Errorf("gcal: freeBusy answered without calendar %q", calID)
	}
	if len(fc.Errors) > 0 {
		err := fmt.Errorf("gcal: freeBusy of calendar %q: %s", calID, fc.Errors[0].Reason)
		if fc.Errors[0].Reason == "backendError" {
			return nil, safecall.Mark(err, safecall.Temporary)
		}
		return nil, safecall.Mark(err, safecall.Permanent)
	}
	out := make([]Interval, 0, len(fc.Busy))
	for _, p := range fc.Busy {
		start, err1 := time.Parse(time.RFC3339, p.Start)
		end, err2 := time.Parse(time.RFC3339, p.End)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("gcal: freeBusy answered a bad period: %w", err)
		}
		out = append(out, Interval{Start: start, End: end})
	}
	return out, nil
}

// toEvent converts a Calendar API event.
func toEvent(e *calendar.Event, calID string, created bool) Event {
	return Event{
		ID:         e.Id,
		CalendarID: calID,
		Summary:    e.Summary,
		Status:     e.Status,
		HTMLLink:   e.HtmlLink,
		Start:      eventTime(e.Start),
		End:        eventTime(e.End),
		Created:    created,
	}
}

// eventTime reads a dateTime, or the date of an all-day event.
func eventTime(t *calendar.EventDateTime) time.Time {
	if t == nil {
		return time.Time{}
	}
	if v, err := time.Parse(time.RFC3339, t.DateTime); err == nil {
		return v
	}
	v, _ := time.Parse(time.DateOnly, t.Date)
	return v
}

// hasStatus reports whether err is Google's answer with status code.
func hasStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}
