package gcal_test

import (
	"context"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/safecall"
)

func TestBookCreatesEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		b := booking("call-1")
		b.Description, b.Location, b.TimeZone = "New patient", "Room 2", "Europe/London"
		b.Attendees = []string{"ada@example.com"}

		ev, err := e.client.Book(t.Context(), org, b)
		require.NoError(t, err)
		assert.Equal(t, gcal.Event{
			ID:         gcal.EventID(org, "call-1"),
			CalendarID: "primary",
			Summary:    "Check-up",
			Status:     "confirmed",
			HTMLLink:   "https://www.google.com/calendar/event?eid=" + gcal.EventID(org, "call-1"),
			Start:      b.Start,
			End:        b.End,
			Created:    true,
		}, ev)

		stored, ok := e.srv.Event("primary", ev.ID)
		require.True(t, ok)
		assert.Equal(t, "New patient", stored.Description)
		assert.Equal(t, "Room 2", stored.Location)
		assert.Equal(t, "Europe/London", stored.Start.TimeZone)
		assert.Equal(t, "2026-12-01T09:00:00Z", stored.Start.DateTime)
		require.Len(t, stored.Attendees, 1)
		assert.Equal(t, "ada@example.com", stored.Attendees[0].Email)
	})
}

func TestBookSameKeyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.link("clinic-2")
		first, err := e.client.Book(t.Context(), org, booking("k"))
		require.NoError(t, err)
		again, err := e.client.Book(t.Context(), org, booking("k"))
		require.NoError(t, err)
		assert.True(t, first.Created)
		assert.False(t, again.Created)
		assert.Equal(t, first.ID, again.ID)

		other, err := e.client.Book(t.Context(), "clinic-2", booking("k"))
		require.NoError(t, err)
		assert.True(t, other.Created, "the same key of another org is another booking")
		assert.Len(t, e.srv.Events("primary"), 2)
	})
}

// TestBookLostAnswer: Google created the event but its answer was lost;
// the retry finds it, and there is exactly one event.
func TestBookLostAnswer(t *testing.T) {
	for name, fault := range map[string]gcaltest.Fault{
		"503 after commit":     {Op: gcaltest.OpInsert, Commit: true, Status: 503},
		"dropped after commit": {Op: gcaltest.OpInsert, Commit: true, Drop: true},
		"slow after commit":    {Op: gcaltest.OpInsert, Commit: true, Delay: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, gcal.WithCallOptions(safecall.WithAttemptTimeout(10*time.Second)))
				e.link(org)
				e.srv.Fail(fault)

				ev, err := e.client.Book(t.Context(), org, booking("call-1"))
				require.NoError(t, err)
				assert.False(t, ev.Created, "found, not created, by the retry")
				assert.Equal(t, gcal.EventID(org, "call-1"), ev.ID)
				assert.Len(t, e.srv.Events("primary"), 1, "exactly one event")
				assert.Len(t, e.requests(gcaltest.OpInsert), 2)
				assert.Len(t, e.requests(gcaltest.OpGet), 1)
			})
		})
	}
}

func TestBookCancelledKeyReturnsCancelledEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		_, err := e.client.Book(t.Context(), org, booking("k"))
		require.NoError(t, err)
		require.NoError(t, e.client.Cancel(t.Context(), org, "k"))

		ev, err := e.client.Book(t.Context(), org, booking("k"))
		require.NoError(t, err)
		assert.Equal(t, "cancelled", ev.Status)
		assert.False(t, ev.Created)
		assert.Len(t, e.srv.Events("primary"), 1)
	})
}

func TestCancelIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		require.NoError(t, e.client.Cancel(t.Context(), org, "never-booked"))

		_, err := e.client.Book(t.Context(), org, booking("k"))
		require.NoError(t, err)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpDelete, Commit: true, Status: 503}) // lost answer
		require.NoError(t, e.client.Cancel(t.Context(), org, "k"))
		require.NoError(t, e.client.Cancel(t.Context(), org, "k"))

		ev, ok := e.srv.Event("primary", gcal.EventID(org, "k"))
		require.True(t, ok)
		assert.Equal(t, "cancelled", ev.Status)
		statuses := []int{}
		for _, r := range e.requests(gcaltest.OpDelete) {
			statuses = append(statuses, r.Status)
		}
		assert.Equal(t, []int{404, 503, 410, 410}, statuses)

		err = e.client.Cancel(t.Context(), org, "")
		require.ErrorIs(t, err, gcal.ErrInvalidBooking)
	})
}

func TestBookUsesLinkCalendarOrOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		l.CalendarID = "front-desk@clinic.example"
		_, err := e.store.Save(t.Context(), l)
		require.NoError(t, err)

		ev, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Equal(t, "front-desk@clinic.example", ev.CalendarID)
		b := booking("b")
		b.CalendarID = "dr-who@clinic.example"
		ev, err = e.client.Book(t.Context(), org, b)
		require.NoError(t, err)
		assert.Equal(t, "dr-who@clinic.example", ev.CalendarID)

		assert.Len(t, e.srv.Events("front-desk@clinic.example"), 1)
		assert.Len(t, e.srv.Events("dr-who@clinic.example"), 1)
		assert.Empty(t, e.srv.Events("primary"))
		require.NoError(t, e.client.Cancel(t.Context(), org, "a"))
		assert.Equal(t, "cancelled", e.srv.Events("front-desk@clinic.example")[0].Status)
	})
}

func TestBookInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		for name, b := range map[string]gcal.Booking{
			"no key":   {Start: start, End: start.Add(time.Hour)},
			"no start": {Key: "k", End: start},
			"no end":   {Key: "k", Start: start},
			"empty":    {Key: "k", Start: start, End: start},
			"reversed": {Key: "k", Start: start, End: start.Add(-time.Hour)},
		} {
			_, err := e.client.Book(t.Context(), org, b)
			require.ErrorIs(t, err, gcal.ErrInvalidBooking, name)
			assert.Equal(t, safecall.Permanent, safecall.ClassOf(err), name)
		}
		assert.Empty(t, e.srv.Requests())
	})
}

// TestBookGoogleRefusesEvent: a 400 from Google is Permanent, not retried,
// and counts as a success for the breaker (Google answered).
func TestBookGoogleRefusesEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		for range 5 {
			e.srv.Fail(gcaltest.Fault{Status: 400, Reason: "invalid", Message: "Invalid attendee email."})
			_, err := e.client.Book(t.Context(), org, booking("a"))
			require.Error(t, err)
			assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
		}
		e.srv.Fail(gcaltest.Fault{Status: 403, Reason: "forbiddenForNonOrganizer", Times: 5})
		for range 5 {
			_, err := e.client.Book(t.Context(), org, booking("a"))
			assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
		}
		assert.Len(t, e.requests(gcaltest.OpInsert), 10)
		assert.Equal(t, breaker.Closed, e.breakers.Get(org).State())
	})
}

func TestBookRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.srv.Fail(gcaltest.Fault{Status: 429, RetryAfter: "7"})
		e.srv.Fail(gcaltest.Fault{Status: 403, Reason: "userRateLimitExceeded", RetryAfter: "3"})

		start := time.Now()
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Equal(t, 10*time.Second, time.Since(start), "waited as Google asked")
		snap := e.breakers.Get(org).Snapshot()
		assert.Zero(t, snap.ConsecutiveFailures, "rate limits are neutral to the breaker")
	})
}

// TestQuotaExceededBacksOffLong: an exhausted quota asks for a long wait,
// which a call with a short deadline does not start.
func TestQuotaExceededBacksOffLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.srv.Fail(gcaltest.Fault{Status: 403, Reason: "quotaExceeded", Times: -1})

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.client.Book(ctx, org, booking("a"))
		require.Error(t, err)
		assert.Zero(t, time.Since(start), "no wait that cannot end before the deadline")
		var se *safecall.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, safecall.RateLimit, se.Class)
		assert.Equal(t, gcal.QuotaRetryAfter, se.RetryAfter)
		assert.Len(t, e.requests(gcaltest.OpInsert), 1)
	})
}

func TestServerErrorsRetriedThenTripBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.link("clinic-2")
		e.srv.Fail(gcaltest.Fault{Status: 503, Times: 2})
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err, "retried past two 503s")

		e.srv.Fail(gcaltest.Fault{Status: 500, Times: -1})
		_, err = e.client.Book(t.Context(), org, booking("b"))
		require.Error(t, err)
		assert.Equal(t, breaker.Open, e.breakers.Get(org).State())
		n := len(e.requests(gcaltest.OpInsert))

		_, err = e.client.Book(t.Context(), org, booking("c"))
		assert.Equal(t, safecall.CircuitOpen, safecall.ClassOf(err))
		assert.Len(t, e.requests(gcaltest.OpInsert), n, "refused without a request")
		assert.Equal(t, breaker.Closed, e.breakers.Get("clinic-2").State(), "other orgs are not affected")
	})
}

func TestBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		add := func(from, to time.Duration, status, transparency string) {
			e.srv.AddEvent("primary", &calendar.Event{
				Start:        &calendar.EventDateTime{DateTime: day.Add(from).Format(time.RFC3339)},
				End:          &calendar.EventDateTime{DateTime: day.Add(to).Format(time.RFC3339)},
				Status:       status,
				Transparency: transparency,
			})
		}
		add(9*time.Hour, 10*time.Hour, "", "")
		add(11*time.Hour, 12*time.Hour, "cancelled", "")
		add(13*time.Hour, 14*time.Hour, "", "transparent")
		add(16*time.Hour, 18*time.Hour, "", "")
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpFreeBusy, Status: 503})

		busy, err := e.client.Busy(t.Context(), org, day.Add(8*time.Hour), day.Add(17*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, []gcal.Interval{
			{Start: day.Add(9 * time.Hour), End: day.Add(10 * time.Hour)},
			{Start: day.Add(16 * time.Hour), End: day.Add(17 * time.Hour)},
		}, busy)
		assert.Len(t, e.requests(gcaltest.OpFreeBusy), 2)

		_, err = e.client.Busy(t.Context(), org, day, day)
		require.ErrorIs(t, err, gcal.ErrInvalidBooking)
	})
}

func TestEventID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-v0-9]{5,}$`)
	pairs := [][2]string{
		{"org", "key"}, {"or", "gkey"}, {"org|", "key"}, {"org", "|key"},
		{"", "orgkey"}, {"orgkey", ""}, {"", ""}, {"a\x00b", "c"}, {"a", "\x00bc"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := gcal.EventID(p[0], p[1])
		assert.Regexp(t, valid, id)
		assert.Len(t, id, 52)
		assert.Equal(t, id, gcal.EventID(p[0], p[1]), "deterministic")
		if prev, dup := seen[id]; dup {
			t.Errorf("EventID(%q, %q) = EventID(%q, %q)", p[0], p[1], prev[0], prev[1])
		}
		seen[id] = p
	}
	// Stable across releases (events booked before an upgrade stay found);
	// computed independently: base32hex(sha256("gcal.EventID/v1\x00" 8 "clinic-1" 7 "call-42")).
	assert.Equal(t, "vtb1dfdk9pqqm7hul2tq6hfnn89qulggfc5s5a8p2jp4p3boh57g", gcal.EventID("clinic-1", "call-42"))
}
