package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/twilioguard"
)

// bookRequest is the body of POST /api/appointments. Times are strings so
// that a bad one is reported with its field's name.
type bookRequest struct {
	Start   string `json:"start"`
	Minutes int    `json:"minutes"`
	Patient string `json:"patient"`
	Phone   string `json:"phone"`
}

// appointmentJSON is an appointment as the API shows it.
type appointmentJSON struct {
	Key     string    `json:"key"`
	Status  string    `json:"status"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Patient string    `json:"patient"`
	// Phone is masked: the full number stays in the outbox.
	Phone   string    `json:"phone,omitempty"`
	EventID string    `json:"eventId,omitempty"`
	Text    *textJSON `json:"text,omitempty"`
	// Message is what to tell the caller.
	Message string `json:"message,omitempty"`
}

// textJSON is the state of a text as the API shows it.
type textJSON struct {
	Key string `json:"key"`
	// Status is Twilio's status (queued, sent, delivered...), or "pending"
	// (not yet accepted: the outbox retries it) or "failed".
	Status    string `json:"status"`
	To        string `json:"to"`
	ErrorCode int    `json:"errorCode,omitempty"`
}

const (
	maxKeyLen      = 200
	defaultMinutes = 30
	maxMinutes     = 8 * 60
	maxPatientLen  = 100
	// freeSlotWindow is how far ahead the next free slot is looked for.
	freeSlotWindow = 7 * 24 * time.Hour
)

// validKey checks an Idempotency-Key: 1 to 200 characters of letters,
// digits and . _ : - (it also names the appointment in URLs).
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// idempotencyKey returns the request's Idempotency-Key, or answers 400.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	if !validKey(key) {
		refuseEarly(w, r)
		writeError(w, r, http.StatusBadRequest, "missing_idempotency_key",
			"An Idempotency-Key header is required: 1 to 200 letters, digits, dots, dashes, underscores or colons.")
		return "", false
	}
	return key, true
}

// normalizePhone strips what people type around a number and checks that
// the rest is E.164.
func normalizePhone(field, s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
	if twilioguard.ValidateE164(s) != nil {
		return "", invalid(field, fmt.Sprintf("The field %q must be a phone number in international form, such as +15551234567.", field))
	}
	return s, nil
}

// parse checks a booking request and returns the appointment it asks for.
func (req bookRequest) parse(now time.Time) (store.Appointment, error) {
	var a store.Appointment
	start, err := time.Parse(time.RFC3339, req.Start)
	switch {
	case req.Start == "":
		return a, invalid("start", `The field "start" is required: an RFC 3339 time such as 2026-12-01T09:00:00Z.`)
	case err != nil:
		return a, invalid("start", `The field "start" must be an RFC 3339 time such as 2026-12-01T09:00:00Z.`)
	case start.Before(now):
		return a, invalid("start", "That time has already passed.")
	}
	minutes := req.Minutes
	if minutes == 0 {
		minutes = defaultMinutes
	}
	if minutes < 5 || minutes > maxMinutes {
		return a, invalid("minutes", `The field "minutes" must be between 5 and 480.`)
	}
	patient := strings.TrimSpace(req.Patient)
	if patient == "" || len(patient) > maxPatientLen || strings.IndexFunc(patient, unicode.IsControl) >= 0 {
		return a, invalid("patient", `The field "patient" must be a name of 1 to 100 characters.`)
	}
	phone := ""
	if req.Phone != "" {
		if phone, err = normalizePhone("phone", req.Phone); err != nil {
			return a, err
		}
	}
	a.Start, a.End = start.UTC(), start.UTC().Add(time.Duration(minutes)*time.Minute)
	a.Patient, a.Phone = patient, phone
	a.Fingerprint = fingerprint("appointment", a.Start.Format(time.RFC3339), fmt.Sprint(minutes), patient, phone)
	return a, nil
}

// fingerprint identifies a request's content, to tell a retry from a
// reused key.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// book is POST /api/appointments: it books in the clinic's calendar under
// the Idempotency-Key, then texts the patient a confirmation under the
// same key. A retry with the same key and body returns the same booking;
// the same key with another body is 422; a busy slot is 409 with the next
// free one. A text that fails never fails the booking.
func (a *App) book(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req bookRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeBadRequest(w, r, err)
		return
	}
	want, err := req.parse(a.now())
	if err != nil {
		writeBadRequest(w, r, err)
		return
	}
	want.OrgID, want.Key = t.OrgID, key
	ctx, cancel := context.WithTimeout(r.Context(), a.callTimeout())
	defer cancel()

	appt, created, err := a.store.ClaimAppointment(ctx, want)
	if errors.Is(err, store.ErrSlotTaken) {
		a.slotBusy(ctx, w, r, want)
		return
	}
	if err != nil {
		a.internal(w, r, "claim appointment", err)
		return
	}
	if appt.Fingerprint != want.Fingerprint {
		writeError(w, r, http.StatusUnprocessableEntity, "idempotency_key_reused",
			"This Idempotency-Key was already used for a different appointment. Use a new key for a new booking.")
		return
	}
	switch appt.Status {
	case store.Booked:
		a.answerBooking(ctx, w, r, appt, http.StatusOK)
		return
	case store.Cancelled, store.Cancelling:
		writeError(w, r, http.StatusConflict, "appointment_cancelled",
			"That appointment was cancelled. A new booking needs a new Idempotency-Key.")
		return
	case store.Rejected, store.Failed:
		if appt, err = a.store.Transition(ctx, t.OrgID, key, []string{store.Rejected, store.Failed}, store.Pending, ""); err != nil {
			if errors.Is(err, store.ErrSlotTaken) {
				a.slotBusy(ctx, w, r, want)
				return
			}
			if !errors.Is(err, store.ErrConflict) {
				a.internal(w, r, "retake appointment", err)
				return
			}
			// Another request of this key moved it meanwhile: go on, Book is idempotent.
			appt.Attempted = true
		}
	}
	if !appt.Attempted {
		if free, ok := a.checkSlot(ctx, w, r, want); !ok {
			return
		} else if !free {
			if now, err := a.store.Appointment(ctx, t.OrgID, key); err != nil || !now.Attempted {
				_, _ = a.store.Transition(ctx, t.OrgID, key, []string{store.Pending}, store.Rejected, "")
				a.slotBusy(ctx, w, r, want)
				return
			}
			// A concurrent request of this very key booked the slot: it is ours.
		}
		if err := a.store.MarkAttempted(ctx, t.OrgID, key); err != nil {
			a.internal(w, r, "mark appointment", err)
			return
		}
	}
	ev, err := a.calendar.Book(ctx, t.OrgID, gcal.Booking{
		Key: key, Start: want.Start, End: want.End,
		Summary:     "Appointment: " + want.Patient,
		Description: "Booked by the receptionist (key " + key + ").",
	})
	a.metrics.call("calendar", "book", err)
	if err != nil {
		_, _ = a.store.Transition(ctx, t.OrgID, key, []string{store.Pending}, store.Failed, "")
		a.vendorFailed(w, r, "calendar", "book", err)
		return
	}
	if ev.Status == "cancelled" {
		_, _ = a.store.Transition(ctx, t.OrgID, key, []string{store.Pending, store.Failed}, store.Cancelled, ev.ID)
		writeError(w, r, http.StatusConflict, "appointment_cancelled",
			"That appointment was cancelled. A new booking needs a new Idempotency-Key.")
		return
	}
	appt, err = a.store.Transition(ctx, t.OrgID, key, []string{store.Pending, store.Failed, store.Booked}, store.Booked, ev.ID)
	if errors.Is(err, store.ErrConflict) {
		// Cancelled while it was being booked: the cancellation wins, and
		// the event just made goes too. Should the calendar fail, the
		// appointment is Cancelling again and the server asks once more.
		if now, err := a.store.Transition(ctx, t.OrgID, key, []string{store.Cancelled, store.Cancelling}, store.Cancelling, ""); err == nil {
			_, _ = a.finishCancel(ctx, now)
		}
		writeError(w, r, http.StatusConflict, "appointment_cancelled", "That appointment was cancelled while it was being booked.")
		return
	}
	if err != nil {
		a.internal(w, r, "mark booked", err)
		return
	}
	status := http.StatusOK
	if created || ev.Created {
		status = http.StatusCreated
	}
	a.answerBooking(ctx, w, r, appt, status)
}

// answerBooking texts the confirmation of a booked appointment (once, under
// its key) and answers with the appointment and what to tell the caller.
func (a *App) answerBooking(ctx context.Context, w http.ResponseWriter, r *http.Request, appt store.Appointment, status int) {
	clinic := a.clinic(ctx, appt.OrgID)
	out := a.appointmentJSON(appt)
	when := clinic.when(appt.Start)
	out.Message = "You're booked for " + when + "."
	if appt.Phone != "" {
		txt := a.queueText(ctx, store.Text{
			OrgID: appt.OrgID, Key: confirmationKey(appt.Key), Kind: "confirmation", To: appt.Phone,
			From: a.sender(appt.OrgID, clinic.SMSFrom),
			Body: clinic.name() + ": your appointment is booked for " + when + ". Call us if you need to change it.",
		})
		out.Text = &txt
		switch txt.Status {
		case string(twilioguard.Failed), string(twilioguard.Undelivered):
			out.Message += " I couldn't text that number, so please note the time."
		case "pending":
			out.Message += " The confirmation text will follow shortly."
		default:
			out.Message += " A confirmation text is on its way."
		}
	}
	writeJSON(w, status, out)
}

func confirmationKey(key string) string { return "appointment/" + key + "/confirmation" }
func cancellationKey(key string) string { return "appointment/" + key + "/cancellation" }

func (a *App) appointmentJSON(appt store.Appointment) appointmentJSON {
	out := appointmentJSON{Key: appt.Key, Status: appt.Status, Start: appt.Start, End: appt.End,
		Patient: appt.Patient, EventID: appt.EventID}
	if appt.Phone != "" {
		out.Phone = twilioguard.Mask(appt.Phone)
	}
	return out
}

// listAppointments is GET /api/appointments: the clinic's latest 50.
func (a *App) listAppointments(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	list, err := a.store.Appointments(r.Context(), t.OrgID, 50)
	if err != nil {
		a.internal(w, r, "list appointments", err)
		return
	}
	out := make([]appointmentJSON, 0, len(list))
	for _, appt := range list {
		j := a.appointmentJSON(appt)
		if appt.Phone != "" {
			if txt, err := a.textState(r.Context(), appt.OrgID, confirmationKey(appt.Key)); err == nil {
				j.Text = &txt
			}
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"appointments": out})
}

// cancel is DELETE /api/appointments/{key}: it cancels the event and texts
// the patient, once. Cancelling again answers the same. The cancellation
// is recorded before the calendar is asked: when the calendar cannot
// confirm it (its answer was lost, it is down), the answer is 202 with the
// status "cancelling", and the server asks the calendar again until it
// does (finishCancellations).
func (a *App) cancel(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	key := r.PathValue("key")
	if !validKey(key) {
		writeError(w, r, http.StatusNotFound, "not_found", "There is no appointment with that key.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.callTimeout())
	defer cancel()
	appt, err := a.store.Appointment(ctx, t.OrgID, key)
	for try := 0; err == nil && appt.Status != store.Cancelled && appt.Status != store.Cancelling && try < 3; try++ {
		// An appointment the calendar was never asked to book is cancelled
		// here; the others wait for the calendar's word.
		to := store.Cancelled
		if appt.Attempted || appt.Status == store.Booked {
			to = store.Cancelling
		}
		var moved store.Appointment
		moved, err = a.store.Transition(ctx, t.OrgID, key,
			[]string{store.Pending, store.Booked, store.Failed, store.Rejected}, to, "")
		if errors.Is(err, store.ErrConflict) {
			appt, err = a.store.Appointment(ctx, t.OrgID, key) // moved meanwhile: look again
			continue
		}
		appt = moved
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "There is no appointment with that key.")
		return
	case err != nil:
		a.internal(w, r, "cancel appointment", err)
		return
	case appt.Status != store.Cancelled && appt.Status != store.Cancelling:
		a.internal(w, r, "cancel appointment", fmt.Errorf("appointment %s kept moving: %s", key, appt.Status))
		return
	}
	clinic := a.clinic(ctx, t.OrgID)
	status := http.StatusOK
	if appt.Status == store.Cancelling {
		if appt, err = a.finishCancel(ctx, appt); err != nil {
			a.log.Warn("calendar cancel failed: the server will ask again", "request", infoOf(r.Context()).id,
				"org", t.OrgID, "class", safecall.ClassOf(err).String(), "err", err)
		}
	}
	out := a.appointmentJSON(appt)
	out.Message = "The appointment for " + clinic.when(appt.Start) + " is cancelled."
	if appt.Status == store.Cancelling {
		status = http.StatusAccepted
		out.Message = "The appointment is being cancelled: the clinic's calendar will show it shortly."
	} else if txt, ok := a.textCancellation(ctx, appt, clinic); ok {
		out.Text = &txt
	}
	writeJSON(w, status, out)
}

// finishCancel asks the calendar to cancel the event of a Cancelling
// appointment and, once it has, records it Cancelled (the caller texts the
// patient: textCancellation). When the calendar fails, the appointment
// stays Cancelling (its time is touched, so that the next try waits) and
// the error is returned.
func (a *App) finishCancel(ctx context.Context, appt store.Appointment) (store.Appointment, error) {
	err := a.calendar.Cancel(ctx, appt.OrgID, appt.Key)
	a.metrics.call("calendar", "cancel", err)
	if err != nil {
		if got, terr := a.store.Transition(ctx, appt.OrgID, appt.Key, []string{store.Cancelling}, store.Cancelling, ""); terr == nil {
			appt = got
		}
		return appt, err
	}
	got, err := a.store.Transition(ctx, appt.OrgID, appt.Key, []string{store.Cancelling}, store.Cancelled, "")
	if errors.Is(err, store.ErrConflict) {
		got, err = a.store.Appointment(ctx, appt.OrgID, appt.Key) // finished meanwhile
	}
	if err != nil {
		return appt, err
	}
	return got, nil
}

// textCancellation texts the patient of a cancelled appointment, once (a
// text of the same key is not sent again), if the patient was told it was
// booked.
func (a *App) textCancellation(ctx context.Context, appt store.Appointment, clinic clinicView) (textJSON, bool) {
	if appt.Status != store.Cancelled || appt.Phone == "" || appt.EventID == "" {
		return textJSON{}, false
	}
	return a.queueText(ctx, store.Text{
		OrgID: appt.OrgID, Key: cancellationKey(appt.Key), Kind: "cancellation", To: appt.Phone,
		From: a.sender(appt.OrgID, clinic.SMSFrom),
		Body: clinic.name() + ": your appointment for " + clinic.when(appt.Start) + " is cancelled.",
	}), true
}

// cancelRetry is how long a cancellation the calendar has not confirmed
// waits before the server asks again.
const cancelRetry = time.Second

// finishCancellations asks the calendar again for the cancellations it
// has not confirmed (a few at a time, each at most every cancelRetry),
// and texts their patients once it has.
func (a *App) finishCancellations(ctx context.Context) {
	due, err := a.store.DueCancellations(ctx, a.now().Add(-cancelRetry), 50)
	eachDue(ctx, a, "cancellations", due, err, func(ctx context.Context, appt store.Appointment) {
		if appt, err := a.finishCancel(ctx, appt); err == nil {
			a.log.Info("cancellation confirmed by the calendar", "org", appt.OrgID)
			a.textCancellation(ctx, appt, a.clinic(ctx, appt.OrgID))
		}
	})
}
