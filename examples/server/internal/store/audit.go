package store

import (
	"context"
	"time"
)

// AdminAction is an operator's action, as the audit keeps it.
type AdminAction struct {
	At     time.Time
	Actor  string // the operator's user ID
	Action string // e.g. "breaker.reset"
	Vendor string
	OrgID  string
	Detail string
}

// Audit records a.
func (s *Store) Audit(ctx context.Context, a AdminAction) error {
	if a.At.IsZero() {
		a.At = s.now()
	}
	return s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO server_admin_audit (at, actor, action, vendor, org_id, detail)
			VALUES ($1, $2, $3, $4, $5, $6)`), ms(a.At), a.Actor, a.Action, a.Vendor, a.OrgID, a.Detail)
		return err
	})
}

// AdminLog returns the most recent operator actions, newest first.
func (s *Store) AdminLog(ctx context.Context, limit int) ([]AdminAction, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, actor, action, vendor, org_id, detail
		FROM server_admin_audit ORDER BY id DESC LIMIT $1`), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AdminAction
	for rows.Next() {
		var a AdminAction
		var at int64
		if err := rows.Scan(&at, &a.Actor, &a.Action, &a.Vendor, &a.OrgID, &a.Detail); err != nil {
			return nil, err
		}
		a.At = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}
