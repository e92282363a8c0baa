package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/voxanne/resilience/twilioguard"
)

// Create implements twilioguard.DeliveryStore: an INSERT that does nothing
// when the key exists, so that of concurrent Creates, in any number of
// processes, exactly one creates.
func (s *Store) Create(ctx context.Context, d twilioguard.Delivery) (twilioguard.Delivery, bool, error) {
	var stored twilioguard.Delivery
	created := true
	err := s.dialect.Retry(ctx, func() error {
		var err error
		stored, err = scanDelivery(s.db.QueryRowContext(ctx, s.q.create,
			d.OrgID, d.Key, d.To, d.From, d.SID, string(d.Status), d.ErrorCode, d.Attempts,
			s.arg(d.LeaseUntil), s.arg(d.CreatedAt), s.arg(d.UpdatedAt)))
		if errors.Is(err, sql.ErrNoRows) { // the key exists
			created = false
			stored, err = scanDelivery(s.db.QueryRowContext(ctx, s.q.get, d.OrgID, d.Key))
		}
		return err
	})
	if err != nil {
		return twilioguard.Delivery{}, false, fmt.Errorf("sqlstore: create delivery: %w", err)
	}
	return stored, created, nil
}

// Get implements twilioguard.DeliveryStore.
func (s *Store) Get(ctx context.Context, orgID, key string) (twilioguard.Delivery, error) {
	return s.one(ctx, "get delivery", s.q.get, orgID, key)
}

// BySID implements twilioguard.DeliveryStore.
func (s *Store) BySID(ctx context.Context, sid string) (twilioguard.Delivery, error) {
	if sid == "" {
		return twilioguard.Delivery{}, twilioguard.ErrNotFound
	}
	return s.one(ctx, "delivery by SID", s.q.bySID, sid)
}

func (s *Store) one(ctx context.Context, what, query string, args ...any) (twilioguard.Delivery, error) {
	var d twilioguard.Delivery
	err := s.dialect.Retry(ctx, func() error {
		var err error
		d, err = scanDelivery(s.db.QueryRowContext(ctx, query, args...))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return twilioguard.Delivery{}, twilioguard.ErrNotFound
	case err != nil:
		return twilioguard.Delivery{}, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return d, nil
}

// Update implements twilioguard.DeliveryStore: an UPDATE conditioned on
// the version.
func (s *Store) Update(ctx context.Context, d twilioguard.Delivery) (twilioguard.Delivery, error) {
	var stored twilioguard.Delivery
	err := s.dialect.Retry(ctx, func() error {
		var err error
		stored, err = scanDelivery(s.db.QueryRowContext(ctx, s.q.update,
			d.OrgID, d.Key, d.To, d.From, d.SID, string(d.Status), d.ErrorCode, d.Attempts,
			s.arg(d.LeaseUntil), s.arg(d.UpdatedAt), d.Version))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		if _, gerr := s.Get(ctx, d.OrgID, d.Key); gerr != nil {
			return twilioguard.Delivery{}, gerr // ErrNotFound, or a failure
		}
		return twilioguard.Delivery{}, twilioguard.ErrConflict
	}
	if err != nil {
		return twilioguard.Delivery{}, fmt.Errorf("sqlstore: update delivery: %w", err)
	}
	return stored, nil
}

// Audit implements twilioguard.AuditSink: one row of sms_audit.
func (s *Store) Audit(ctx context.Context, e twilioguard.AuditEntry) error {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	err := s.dialect.Retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q.audit, s.arg(at), e.OrgID, e.Key, string(e.Event), e.To,
			e.Attempt, e.Class, e.Code, e.HTTPStatus, e.SID, string(e.Status))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	return nil
}

// Trail returns the audit entries of one message, oldest first: what the
// clinic can be shown of what happened to it.
func (s *Store) Trail(ctx context.Context, orgID, key string) ([]twilioguard.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.q.trail, orgID, key)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: trail: %w", err)
	}
	defer rows.Close()
	var out []twilioguard.AuditEntry
	for rows.Next() {
		var e twilioguard.AuditEntry
		var event, status string
		if err := rows.Scan(timeColumn{&e.At}, &e.OrgID, &e.Key, &event, &e.To, &e.Attempt, &e.Class,
			&e.Code, &e.HTTPStatus, &e.SID, &status); err != nil {
			return nil, fmt.Errorf("sqlstore: trail: %w", err)
		}
		e.Event, e.Status = twilioguard.AuditEvent(event), twilioguard.Status(status)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: trail: %w", err)
	}
	return out, nil
}
