package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Clinic is a clinic's profile: what the server needs beyond its
// organisation, which tenant/sqlstore keeps.
type Clinic struct {
	OrgID string
	Name  string
	// Phone is the clinic's own number (E.164), which gets the
	// "System ready" text.
	Phone string
	// TimeZone is an IANA name; times read to callers are in it.
	TimeZone string
	// SMSFrom is the sender of the clinic's texts; "" for the account's.
	SMSFrom   string
	UpdatedAt time.Time
}

// Clinic returns the profile of org, or ErrNotFound.
func (s *Store) Clinic(ctx context.Context, org string) (Clinic, error) {
	c := Clinic{OrgID: org}
	var updated int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, phone, time_zone, sms_from, updated_at
		FROM server_clinics WHERE org_id = $1`), org).Scan(&c.Name, &c.Phone, &c.TimeZone, &c.SMSFrom, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Clinic{}, ErrNotFound
	}
	c.UpdatedAt = fromMS(updated)
	return c, err
}

// SaveClinic stores c, replacing the profile of c.OrgID.
func (s *Store) SaveClinic(ctx context.Context, c Clinic) (Clinic, error) {
	c.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	err := s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO server_clinics (org_id, name, phone, time_zone, sms_from, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, phone = excluded.phone,
				time_zone = excluded.time_zone, sms_from = excluded.sms_from, updated_at = excluded.updated_at`),
			c.OrgID, c.Name, c.Phone, c.TimeZone, c.SMSFrom, ms(c.UpdatedAt))
		return err
	})
	return c, err
}
