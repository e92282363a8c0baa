package sqlstore

import (
	"context"
	"fmt"
	"math"

	"github.com/voxanne/resilience/gcal"
)

// Audit records a credential access in gcal_audit.
func (s *Store) Audit(ctx context.Context, e gcal.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, s.q.audit, e.OrgID, string(e.Event), e.Detail, s.timeArg(e.At))
	if err != nil {
		return fmt.Errorf("sqlstore: audit %s of org %q: %w", e.Event, e.OrgID, err)
	}
	return nil
}

// AuditLog returns the most recent audit entries of orgID, newest first, at
// most limit of them (all of them for limit <= 0).
func (s *Store) AuditLog(ctx context.Context, orgID string, limit int) ([]gcal.AuditEntry, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, err := s.db.QueryContext(ctx, s.q.auditLog, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit log of org %q: %w", orgID, err)
	}
	defer rows.Close()
	var out []gcal.AuditEntry
	for rows.Next() {
		e := gcal.AuditEntry{OrgID: orgID}
		var event string
		var at timeValue
		if err := rows.Scan(&event, &e.Detail, &at); err != nil {
			return nil, fmt.Errorf("sqlstore: audit log of org %q: %w", orgID, err)
		}
		e.Event, e.At = gcal.AuditEvent(event), at.t
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: audit log of org %q: %w", orgID, err)
	}
	return out, nil
}
