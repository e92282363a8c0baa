package gcaltest

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/calendar/v3"
)

// calendarData holds the events of one calendar by id.
type calendarData struct {
	events map[string]*calendar.Event
}

// calendarFor returns the calendar named id for account, creating it:
// "primary" is the account's own calendar, whose id is the account.
// s.mu is held.
func (s *Server) calendarFor(id, account string) (string, *calendarData) {
	if id == "primary" {
		id = account
	}
	c, ok := s.calendars[id]
	if !ok {
		c = &calendarData{events: make(map[string]*calendar.Event)}
		s.calendars[id] = c
	}
	return id, c
}

// Events returns copies of the events of a calendar, cancelled ones
// included, ordered by start time and then id. "primary" names the primary
// calendar of the current account (see SetAccount).
func (s *Server) Events(calendarID string) []*calendar.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.calendarFor(calendarID, s.account)
	out := make([]*calendar.Event, 0, len(c.events))
	for _, e := range c.events {
		out = append(out, copyEvent(e))
	}
	sortEvents(out)
	return out
}

// Event returns a copy of one event of a calendar ("primary" as in
// Events), cancelled or not.
func (s *Server) Event(calendarID, eventID string) (*calendar.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.calendarFor(calendarID, s.account)
	e, ok := c.events[eventID]
	if !ok {
		return nil, false
	}
	return copyEvent(e), true
}

// AddEvent puts e in a calendar ("primary" as in Events) as if it had been
// inserted, giving it an id when it has none, and returns the stored copy.
// It is how a test fills a calendar with appointments made elsewhere.
func (s *Server) AddEvent(calendarID string, e *calendar.Event) *calendar.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, c := s.calendarFor(calendarID, s.account)
	stored := s.stamp(copyEvent(e), id, s.account)
	c.events[stored.Id] = stored
	return copyEvent(stored)
}

// stamp fills the fields the server sets on an inserted event; s.mu is held.
func (s *Server) stamp(e *calendar.Event, calendarID, account string) *calendar.Event {
	s.seq++
	if e.Id == "" {
		e.Id = newEventID()
	}
	now := s.now().UTC().Format(time.RFC3339Nano)
	e.Kind = "calendar#event"
	e.Etag = `"` + strconv.Itoa(s.seq) + `"`
	if e.Status == "" {
		e.Status = "confirmed"
	}
	e.Created, e.Updated = now, now
	e.HtmlLink = "https://www.google.com/calendar/event?eid=" + e.Id
	e.ICalUID = e.Id + "@google.com"
	e.Creator = &calendar.EventCreator{Email: account, Self: true}
	e.Organizer = &calendar.EventOrganizer{Email: calendarID, Self: calendarID == account}
	return e
}

func (s *Server) insertEvent(w http.ResponseWriter, r *http.Request, rec *Request) {
	account := s.authorize(w, r, rec)
	if account == "" {
		return
	}
	var e calendar.Event
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
		writeAPIError(w, http.StatusBadRequest, "parseError", "Parse Error", "")
		return
	}
	rec.EventID = e.Id
	if reason, msg := invalidEvent(&e); reason != "" {
		writeAPIError(w, http.StatusBadRequest, reason, msg, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, c := s.calendarFor(r.PathValue("calendarId"), account)
	if _, dup := c.events[e.Id]; dup && e.Id != "" {
		writeAPIError(w, http.StatusConflict, "duplicate", "", "")
		return
	}
	stored := s.stamp(&e, id, account)
	c.events[stored.Id] = stored
	writeJSON(w, http.StatusOK, stored)
}

// invalidEvent checks an event as Google does on insert and returns the
// reason and message of a 400, or "".
func invalidEvent(e *calendar.Event) (reason, message string) {
	if e.Id != "" && !validEventID(e.Id) {
		return "invalid", "Invalid resource id value."
	}
	start, okStart := eventTime(e.Start)
	end, okEnd := eventTime(e.End)
	switch {
	case e.Start == nil || !okStart:
		return "required", "Missing start time."
	case e.End == nil || !okEnd:
		return "required", "Missing end time."
	case !end.After(start):
		return "timeRangeEmpty", "The specified time range is empty."
	}
	return "", ""
}

// validEventID reports whether id is a valid Google event id: 5 to 1024
// characters of base32hex (a-v, 0-9).
func validEventID(id string) bool {
	if len(id) < 5 || len(id) > 1024 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'v' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, rec *Request) {
	account := s.authorize(w, r, rec)
	if account == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.calendarFor(r.PathValue("calendarId"), account)
	e, ok := c.events[r.PathValue("eventId")]
	if !ok {
		writeAPIError(w, http.StatusNotFound, "notFound", "", "")
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// deleteEvent cancels an event: it stays readable with status "cancelled"
// and its id stays taken, as in Google Calendar.
func (s *Server) deleteEvent(w http.ResponseWriter, r *http.Request, rec *Request) {
	account := s.authorize(w, r, rec)
	if account == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.calendarFor(r.PathValue("calendarId"), account)
	e, ok := c.events[r.PathValue("eventId")]
	switch {
	case !ok:
		writeAPIError(w, http.StatusNotFound, "notFound", "", "")
		return
	case e.Status == "cancelled":
		writeAPIError(w, http.StatusGone, "deleted", "", "")
		return
	}
	s.seq++
	e.Status = "cancelled"
	e.Etag = `"` + strconv.Itoa(s.seq) + `"`
	e.Updated = s.now().UTC().Format(time.RFC3339Nano)
	w.WriteHeader(http.StatusNoContent)
}

// listEvents serves events.list with timeMin, timeMax, showDeleted,
// maxResults and pageToken; events come ordered by start time.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, rec *Request) {
	account := s.authorize(w, r, rec)
	if account == "" {
		return
	}
	q := r.URL.Query()
	from, okFrom := parseOptionalTime(q.Get("timeMin"))
	to, okTo := parseOptionalTime(q.Get("timeMax"))
	offset, errOffset := strconv.Atoi(or(q.Get("pageToken"), "0"))
	limit, errLimit := strconv.Atoi(or(q.Get("maxResults"), "250"))
	if !okFrom || !okTo || errOffset != nil || offset < 0 || errLimit != nil || limit < 1 {
		writeAPIError(w, http.StatusBadRequest, "invalid", "Invalid Value", "")
		return
	}
	showDeleted := q.Get("showDeleted") == "true"
	s.mu.Lock()
	id, c := s.calendarFor(r.PathValue("calendarId"), account)
	var items []*calendar.Event
	for _, e := range c.events {
		if e.Status == "cancelled" && !showDeleted {
			continue
		}
		if overlaps(e, from, to) {
			items = append(items, copyEvent(e))
		}
	}
	s.mu.Unlock()
	sortEvents(items)
	list := &calendar.Events{Kind: "calendar#events", Summary: id, TimeZone: "UTC", Items: []*calendar.Event{}}
	if offset < len(items) {
		items = items[offset:]
		if len(items) > limit {
			items = items[:limit]
			list.NextPageToken = strconv.Itoa(offset + limit)
		}
		list.Items = items
	}
	writeJSON(w, http.StatusOK, list)
}

// freeBusy serves freebusy.query from the confirmed events of each
// calendar asked for; the answer names the calendars as asked ("primary").
func (s *Server) freeBusy(w http.ResponseWriter, r *http.Request, rec *Request) {
	account := s.authorize(w, r, rec)
	if account == "" {
		return
	}
	var req calendar.FreeBusyRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "parseError", "Parse Error", "")
		return
	}
	from, errFrom := time.Parse(time.RFC3339, req.TimeMin)
	to, errTo := time.Parse(time.RFC3339, req.TimeMax)
	switch {
	case errFrom != nil || errTo != nil:
		writeAPIError(w, http.StatusBadRequest, "invalid", "Invalid Value", "")
		return
	case !to.After(from):
		writeAPIError(w, http.StatusBadRequest, "timeRangeEmpty", "The specified time range is empty.", "")
		return
	}
	resp := &calendar.FreeBusyResponse{
		Kind:      "calendar#freeBusy",
		TimeMin:   req.TimeMin,
		TimeMax:   req.TimeMax,
		Calendars: make(map[string]calendar.FreeBusyCalendar),
	}
	s.mu.Lock()
	for _, item := range req.Items {
		_, c := s.calendarFor(item.Id, account)
		busy := []*calendar.TimePeriod{}
		for _, e := range c.events {
			if e.Status == "cancelled" || e.Transparency == "transparent" || !overlaps(e, from, to) {
				continue
			}
			start, _ := eventTime(e.Start)
			end, _ := eventTime(e.End)
			busy = append(busy, &calendar.TimePeriod{
				Start: maxTime(start, from).UTC().Format(time.RFC3339),
				End:   minTime(end, to).UTC().Format(time.RFC3339),
			})
		}
		slices.SortFunc(busy, func(a, b *calendar.TimePeriod) int { return strings.Compare(a.Start, b.Start) })
		resp.Calendars[item.Id] = calendar.FreeBusyCalendar{Busy: busy}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// eventTime reads an EventDateTime: a dateTime, or the date of an all-day
// event (midnight UTC).
func eventTime(t *calendar.EventDateTime) (time.Time, bool) {
	if t == nil {
		return time.Time{}, false
	}
	if t.DateTime != "" {
		v, err := time.Parse(time.RFC3339, t.DateTime)
		return v, err == nil
	}
	v, err := time.Parse(time.DateOnly, t.Date)
	return v, err == nil
}

// overlaps reports whether e overlaps [from, to); a zero bound is open.
func overlaps(e *calendar.Event, from, to time.Time) bool {
	start, _ := eventTime(e.Start)
	end, _ := eventTime(e.End)
	return (from.IsZero() || end.After(from)) && (to.IsZero() || start.Before(to))
}

func parseOptionalTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

func sortEvents(es []*calendar.Event) {
	slices.SortFunc(es, func(a, b *calendar.Event) int {
		sa, _ := eventTime(a.Start)
		sb, _ := eventTime(b.Start)
		if c := sa.Compare(sb); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
}

// copyEvent returns a deep copy of e.
func copyEvent(e *calendar.Event) *calendar.Event {
	b, err := json.Marshal(e)
	if err != nil {
		panic("gcaltest: copy event: " + err.Error())
	}
	var c calendar.Event
	if err := json.Unmarshal(b, &c); err != nil {
		panic("gcaltest: copy event: " + err.Error())
	}
	return &c
}

// newEventID returns a random event id as Google makes them.
func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
