package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"
)

// The states of an appointment.
const (
	// Pending: being booked; it holds its slot.
	Pending = "pending"
	// Booked: the calendar has its event.
	Booked = "booked"
	// Cancelling: the clinic asked to cancel it and the calendar has not
	// confirmed yet; the server asks the calendar again until it does. It
	// holds its slot in the calendar, not in the database.
	Cancelling = "cancelling"
	// Cancelled: cancelled in the calendar.
	Cancelled = "cancelled"
	// Rejected: the slot was busy; it holds nothing.
	Rejected = "rejected"
	// Failed: the calendar could not be reached; it holds nothing and may
	// be retried with the same key.
	Failed = "failed"
)

// Appointment is a booking request of a clinic and what became of it.
type Appointment struct {
	OrgID string
	Key   string
	// Fingerprint identifies the request's content: a retry with the same
	// key must carry the same one.
	Fingerprint string
	Status      string
	Start, End  time.Time
	Patient     string
	Phone       string
	EventID     string
	// Attempted is set before the calendar is asked to book: from then on,
	// the event may exist whatever the answer was.
	Attempted bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const appointmentColumns = `org_id, idem_key, fingerprint, status, start_at, end_at, patient, phone,
	event_id, attempted, created_at, updated_at`

func scanAppointment(row interface{ Scan(...any) error }) (Appointment, error) {
	var a Appointment
	var start, end, created, updated int64
	var attempted int
	err := row.Scan(&a.OrgID, &a.Key, &a.Fingerprint, &a.Status, &start, &end, &a.Patient, &a.Phone,
		&a.EventID, &attempted, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Appointment{}, ErrNotFound
	}
	a.Start, a.End, a.CreatedAt, a.UpdatedAt = fromMS(start), fromMS(end), fromMS(created), fromMS(updated)
	a.Attempted = attempted != 0
	return a, err
}

// ClaimAppointment records a as Pending unless the clinic already has an
// appointment of that key, and returns the stored one and whether this call
// created it. It fails with ErrSlotTaken when another live appointment of
// the clinic starts at the same time (an appointment of the same key is
// returned instead, whatever its slot).
func (s *Store) ClaimAppointment(ctx context.Context, a Appointment) (Appointment, bool, error) {
	now := ms(s.now())
	var got Appointment
	err := s.retry(ctx, func() error {
		var err error
		got, err = scanAppointment(s.db.QueryRowContext(ctx, s.q(`INSERT INTO server_appointments
			(org_id, idem_key, fingerprint, status, start_at, end_at, patient, phone, event_id, attempted, created_at, updated_at)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, '', 0, $8, $8)
			ON CONFLICT (org_id, idem_key) DO NOTHING
			RETURNING `+appointmentColumns),
			a.OrgID, a.Key, a.Fingerprint, ms(a.Start), ms(a.End), a.Patient, a.Phone, now))
		return err
	})
	switch {
	case err == nil:
		return got, true, nil
	case errors.Is(err, ErrNotFound):
		got, err = s.Appointment(ctx, a.OrgID, a.Key)
		return got, false, err
	case s.unique(err):
		// On PostgreSQL a concurrent claim of the same key can make the
		// insert fail on the slot's index rather than the key's: then
		// that claim's appointment is the one to return.
		if got, gerr := s.Appointment(ctx, a.OrgID, a.Key); gerr == nil {
			return got, false, nil
		}
		return Appointment{}, false, ErrSlotTaken
	}
	return Appointment{}, false, err
}

// Appointment returns the appointment of org with key, or ErrNotFound.
func (s *Store) Appointment(ctx context.Context, org, key string) (Appointment, error) {
	return scanAppointment(s.db.QueryRowContext(ctx, s.q(`SELECT `+appointmentColumns+`
		FROM server_appointments WHERE org_id = $1 AND idem_key = $2`), org, key))
}

// Appointments returns org's most recent appointments, newest first.
func (s *Store) Appointments(ctx context.Context, org string, limit int) ([]Appointment, error) {
	return s.appointments(ctx, `WHERE org_id = $1 ORDER BY created_at DESC, idem_key LIMIT $2`, org, limit)
}

// appointments returns the appointments that where selects.
func (s *Store) appointments(ctx context.Context, where string, args ...any) ([]Appointment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+appointmentColumns+` FROM server_appointments `+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Appointment
	for rows.Next() {
		a, err := scanAppointment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Transition moves the appointment of org and key to status, if its status
// is one of from, and sets its event id when eventID is not "". Moving to
// Pending fails with ErrSlotTaken if another appointment holds the slot;
// ErrConflict means the status was none of from.
func (s *Store) Transition(ctx context.Context, org, key string, from []string, status, eventID string) (Appointment, error) {
	args := []any{org, key, status, eventID, ms(s.now())}
	in := ""
	for i, f := range from {
		if i > 0 {
			in += ", "
		}
		args = append(args, f)
		in += "$" + strconv.Itoa(len(args))
	}
	var got Appointment
	err := s.retry(ctx, func() error {
		var err error
		got, err = scanAppointment(s.db.QueryRowContext(ctx, s.q(`UPDATE server_appointments
			SET status = $3, event_id = CASE WHEN $4 = '' THEN event_id ELSE $4 END, updated_at = $5
			WHERE org_id = $1 AND idem_key = $2 AND status IN (`+in+`)
			RETURNING `+appointmentColumns), args...))
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Appointment{}, ErrConflict
	case err != nil && s.unique(err):
		return Appointment{}, ErrSlotTaken
	}
	return got, err
}

// DueCancellations returns up to limit appointments left Cancelling since
// before, oldest first: the cancellations the calendar has not confirmed.
func (s *Store) DueCancellations(ctx context.Context, before time.Time, limit int) ([]Appointment, error) {
	return s.appointments(ctx, `WHERE status = 'cancelling' AND updated_at <= $1 ORDER BY updated_at LIMIT $2`,
		ms(before), limit)
}

// MarkAttempted records that the calendar is about to be asked to book the
// appointment.
func (s *Store) MarkAttempted(ctx context.Context, org, key string) error {
	return s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q(`UPDATE server_appointments SET attempted = 1, updated_at = $3
			WHERE org_id = $1 AND idem_key = $2`), org, key, ms(s.now()))
		return err
	})
}
