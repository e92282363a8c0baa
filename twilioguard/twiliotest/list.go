package twiliotest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	defaultPageSize = 50   // Twilio's default
	maxPageSize     = 1000 // Twilio's maximum
)

// listJSON is a page of Messages as Twilio renders it.
type listJSON struct {
	End             int           `json:"end"`
	FirstPageURI    string        `json:"first_page_uri"`
	Messages        []messageJSON `json:"messages"`
	NextPageURI     *string       `json:"next_page_uri"`
	Page            int           `json:"page"`
	PageSize        int           `json:"page_size"`
	PreviousPageURI *string       `json:"previous_page_uri"`
	Start           int           `json:"start"`
	URI             string        `json:"uri"`
}

// dateFilter is the DateSent, DateSent< and DateSent> filters of a list.
type dateFilter struct {
	on, from, until time.Time // zero: not given
	onDay           bool      // on is a date (match the whole day)
	untilDay        bool      // until is a date (include the whole day)
}

func (f dateFilter) set() bool { return !f.on.IsZero() || !f.from.IsZero() || !f.until.IsZero() }

func (f dateFilter) match(sent time.Time) bool {
	if sent.IsZero() {
		return false // a message not yet sent has no DateSent to match
	}
	if !f.on.IsZero() {
		if f.onDay && !sameDay(sent, f.on) || !f.onDay && !sent.Truncate(time.Second).Equal(f.on) {
			return false
		}
	}
	if !f.from.IsZero() && sent.Before(f.from) {
		return false
	}
	if !f.until.IsZero() {
		end := f.until
		if f.untilDay {
			end = end.Add(24 * time.Hour)
			return sent.Before(end)
		}
		return !sent.After(end)
	}
	return true
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// parseDate reads a DateSent value: a date (YYYY-MM-DD, in GMT) or an
// RFC 3339 time, as twilio-go sends it.
func parseDate(v string) (t time.Time, day bool, ok bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, false, true
	}
	return time.Time{}, false, false
}

// list answers GET .../Messages.json: the messages matching To, From and
// the DateSent filters, newest first (by DateSent; messages not yet sent,
// which have none, come first), one page at a time. Pages are addressed
// by Page and by PageToken ("PA" and the SID of the last message of the
// previous page), so that new messages do not shift later pages.
func (s *Server) list(path string, q url.Values) answer {
	var f dateFilter
	for key, dst := range map[string]*time.Time{"DateSent": &f.on, "DateSent>": &f.from, "DateSent<": &f.until} {
		v := q.Get(key)
		if v == "" {
			continue
		}
		t, day, ok := parseDate(v)
		if !ok {
			return errorAnswer(http.StatusBadRequest, 20001, "Invalid "+key+": "+v)
		}
		*dst = t
		switch key {
		case "DateSent":
			f.onDay = day
		case "DateSent<":
			f.untilDay = day
		}
	}
	size := s.pageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorAnswer(http.StatusBadRequest, 20001, "Invalid PageSize: "+v)
		}
		size = min(n, maxPageSize)
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorAnswer(http.StatusBadRequest, 20001, "Invalid Page: "+v)
		}
		page = n
	}

	to, from := q.Get("To"), q.Get("From")
	s.mu.Lock()
	var found []message
	for _, m := range s.messages {
		if (to == "" || m.To == to) && (from == "" || m.From == from) && (!f.set() || f.match(m.DateSent)) {
			found = append(found, *m)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(found, newestFirst)

	start := page * size
	if tok := q.Get("PageToken"); tok != "" {
		after, ok := strings.CutPrefix(tok, "PA")
		i := slices.IndexFunc(found, func(m message) bool { return m.SID == after })
		if !ok || i < 0 {
			return errorAnswer(http.StatusBadRequest, 20001, "Invalid PageToken: "+tok)
		}
		start = i + 1
	}
	start = min(start, len(found))
	end := min(start+size, len(found))

	out := listJSON{
		Messages: []messageJSON{}, // [], not null, when empty
		Page:     page,
		PageSize: size,
		Start:    start,
		End:      max(end-1, start),
	}
	for _, m := range found[start:end] {
		out.Messages = append(out.Messages, render(m.Message))
	}
	filters := url.Values{}
	for _, key := range []string{"To", "From", "DateSent", "DateSent<", "DateSent>"} {
		if v := q.Get(key); v != "" {
			filters.Set(key, v)
		}
	}
	pageURI := func(n int, token string) string {
		v := url.Values{}
		for k, vs := range filters {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(n))
		if token != "" {
			v.Set("PageToken", token)
		}
		return path + "?" + v.Encode()
	}
	out.URI = pageURI(page, q.Get("PageToken"))
	out.FirstPageURI = pageURI(0, "")
	if end < len(found) {
		next := pageURI(page+1, "PA"+found[end-1].SID)
		out.NextPageURI = &next
	}
	if page > 0 {
		prev := pageURI(page-1, "")
		out.PreviousPageURI = &prev
	}
	return jsonAnswer(http.StatusOK, out)
}

// newestFirst orders messages as Twilio lists them: not yet sent first,
// then by DateSent, newest first; ties by creation, newest first.
func newestFirst(a, b message) int {
	switch {
	case a.DateSent.IsZero() != b.DateSent.IsZero():
		if a.DateSent.IsZero() {
			return -1
		}
		return 1
	case !a.DateSent.Equal(b.DateSent):
		return b.DateSent.Compare(a.DateSent)
	}
	return b.seq - a.seq
}
