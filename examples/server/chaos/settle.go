package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
)

// settleRound is how often, once the faults are over, the callers ask
// again for what failed.
const settleRound = 500 * time.Millisecond

// settle waits, until by, for the run to come to rest once the faults are
// over: every calendar linked, every booking that failed booked (its
// caller calls back with the same key), every cancellation confirmed by
// the calendar, the texts the outbox holds sent
// (asked again through the API where the request can be repeated), every
// status callback delivered. It returns how long that took and whether
// the run came to rest before by.
func (r *harness) settle(ctx context.Context, by time.Time) (time.Duration, bool) {
	start := time.Now()
	for _, c := range r.clinics {
		if st, _ := r.links.Load(ctx, c.org); st.Status != gcal.Linked {
			_ = r.link(ctx, c)
		}
	}
	for time.Now().Before(by) && ctx.Err() == nil {
		redo := r.unfinished(ctx)
		if len(redo) == 0 && r.carrier.idle() {
			return time.Since(start), true
		}
		for _, fn := range redo {
			fn()
		}
		sleep(ctx, settleRound)
	}
	return time.Since(start), false
}

// unfinished returns the requests to make again: the bookings left failed
// or pending (and, as nothing, the cancellations the server is still
// finishing), and the texts still pending whose request can be repeated
// (a cancellation's text waits for the outbox: its booking cannot be asked
// again).
func (r *harness) unfinished(ctx context.Context) []func() {
	var redo []func()
	for _, c := range r.clinics {
		appts, err := r.st.Appointments(ctx, c.org, 1<<20)
		if err != nil {
			continue
		}
		for _, a := range appts {
			switch a.Status {
			case store.Failed, store.Pending:
				redo = append(redo, r.again(ctx, c, "POST", "/api/appointments", a.Key, c.recall(c.bookings, a.Key)))
			case store.Cancelling:
				redo = append(redo, func() {}) // the server asks the calendar again itself
			}
		}
	}
	texts, err := r.st.RecentTexts(ctx, 1<<20)
	if err != nil {
		return redo
	}
	for _, t := range texts {
		c := r.clinicOf(t.OrgID)
		if c == nil || t.State != store.TextPending {
			continue
		}
		switch {
		case t.Kind == "sms":
			key := strings.TrimPrefix(t.Key, "sms/")
			redo = append(redo, r.again(ctx, c, "POST", "/api/sms", key, c.recall(c.texts, key)))
		case t.Kind == "system-ready":
			redo = append(redo, r.again(ctx, c, "PUT", "/api/clinic", "", r.clinicBody(c)))
		case t.Kind == "confirmation":
			key := strings.TrimSuffix(strings.TrimPrefix(t.Key, "appointment/"), "/confirmation")
			if a, err := r.st.Appointment(ctx, c.org, key); err == nil && a.Status == store.Booked {
				redo = append(redo, r.again(ctx, c, "POST", "/api/appointments", key, c.recall(c.bookings, key)))
			}
		}
	}
	return redo
}

// again is a request made again with the body its caller first sent.
func (r *harness) again(ctx context.Context, c *clinic, method, path, key, body string) func() {
	if body == "" {
		return func() {} // not one of the callers' requests
	}
	return func() { r.do(ctx, c, method, path, key, body) }
}

func (r *harness) clinicOf(org string) *clinic {
	for _, c := range r.clinics {
		if c.org == org {
			return c
		}
	}
	return nil
}

func jsonDecode(rd io.Reader, v any) error { return json.NewDecoder(rd).Decode(v) }
