package app

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
)

// checkSlot asks the calendar whether the appointment's slot is free. On a
// vendor failure it answers and returns ok false.
func (a *App) checkSlot(ctx context.Context, w http.ResponseWriter, r *http.Request, want store.Appointment) (free, ok bool) {
	busy, err := a.calendar.Busy(ctx, want.OrgID, want.Start, want.End)
	a.metrics.call("calendar", "busy", err)
	if err != nil {
		_, _ = a.store.Transition(ctx, want.OrgID, want.Key, []string{store.Pending}, store.Failed, "")
		a.vendorFailed(w, r, "calendar", "busy", err)
		return false, false
	}
	for _, b := range busy {
		if b.Start.Before(want.End) && b.End.After(want.Start) {
			return false, true
		}
	}
	return true, true
}

// slotBusy answers 409 with the next free slot of the same length, if the
// calendar can tell it.
func (a *App) slotBusy(ctx context.Context, w http.ResponseWriter, r *http.Request, want store.Appointment) {
	e := apiError{Code: "slot_busy", Message: "That time is already taken."}
	length := want.End.Sub(want.Start)
	busy, err := a.calendar.Busy(ctx, want.OrgID, want.Start, want.Start.Add(freeSlotWindow))
	a.metrics.call("calendar", "busy", err)
	if err == nil {
		if next, ok := nextFree(busy, want.Start, length, want.Start.Add(freeSlotWindow)); ok {
			e.NextFreeSlot = &slot{Start: next, End: next.Add(length)}
			e.Message += " The next free time is " + a.clinic(ctx, want.OrgID).when(next) + "."
		}
	}
	writeAPIError(w, r, http.StatusConflict, e)
}

// nextFree returns the first start from from on whose slot of length
// overlaps none of busy, before limit.
func nextFree(busy []gcal.Interval, from time.Time, length time.Duration, limit time.Time) (time.Time, bool) {
	busy = slices.Clone(busy)
	slices.SortFunc(busy, func(x, y gcal.Interval) int { return x.Start.Compare(y.Start) })
	t := from
	for _, b := range busy {
		if !b.End.After(t) {
			continue
		}
		if !b.Start.Before(t.Add(length)) {
			break
		}
		t = b.End
	}
	return t, t.Add(length).Before(limit) || t.Add(length).Equal(limit)
}
