package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/voxanne/resilience/internal/sqldb"
	"github.com/voxanne/resilience/tenant"
)

// AuditOrgCreated is the audit_log action recorded for each organisation
// created, by Provision or by the Supabase signup trigger.
const AuditOrgCreated = "organization.created"

// maxProvisionAttempts bounds the retries of a Provision that lost a race.
const maxProvisionAttempts = 8

// Provision returns the organisation of user.UserID, creating one and linking
// the user to it when the user has none. The organisation, the profile and an
// audit_log row are written in one transaction.
//
// Provision is idempotent and race-safe: concurrent calls for one user, in one
// process or many, create exactly one organisation and all return its ID. A
// call that loses the race rolls its own organisation back and returns the
// winner's. user.Email and user.Role fill the new profile; they are not
// updated for an existing one. An anonymous user without an organisation
// gets tenant.ErrNoOrg unless WithAnonymousOrgs(true).
func (s *Store) Provision(ctx context.Context, user tenant.Info) (string, error) {
	if user.UserID == "" {
		return "", ErrEmptyUserID
	}
	if err := s.checkConn(ctx); err != nil {
		return "", fmt.Errorf("sqlstore: provision user %q: %w", user.UserID, err)
	}
	if user.Anonymous && !s.anonymousOrgs {
		return s.OrgForUser(ctx, user.UserID) // tenant.ErrNoOrg when none
	}
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		orgID, err := s.OrgForUser(ctx, user.UserID)
		if !errors.Is(err, tenant.ErrNoOrg) {
			return orgID, err // found, or failed
		}
		orgID, err = s.provisionTx(ctx, user)
		switch {
		case err == nil && orgID != "":
			return orgID, nil
		case err != nil && !s.dialect.Conflict(err):
			return "", fmt.Errorf("sqlstore: provision user %q: %w", user.UserID, err)
		case attempt == maxProvisionAttempts:
			if err == nil {
				err = errors.New("too many conflicting attempts")
			}
			return "", fmt.Errorf("sqlstore: provision user %q: %w", user.UserID, err)
		case err != nil:
			// A lock or serialization conflict: wait a little, then read again.
			if err := sqldb.Sleep(ctx, backoff); err != nil {
				return "", fmt.Errorf("sqlstore: provision user %q: %w", user.UserID, err)
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
		// Otherwise another transaction linked the user first: read its org.
	}
}

// provisionTx creates an organisation for user and links the user to it. It
// returns "" without error, having rolled back, when the user already had a
// profile by the time of the insert.
func (s *Store) provisionTx(ctx context.Context, user tenant.Info) (orgID string, err error) {
	orgID = uuid.NewString()
	name := s.orgName(user)
	details, err := json.Marshal(map[string]string{"name": name, "via": "provision"})
	if err != nil {
		return "", err
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer func() {
		if orgID == "" { // every return but the last
			_ = tx.Rollback()
		}
	}()

	// The first statement writes, so that SQLite takes its write lock (and
	// waits for it under busy_timeout) before reading anything.
	if _, err := tx.ExecContext(ctx, s.q.insertOrg, orgID, name); err != nil {
		return "", err
	}
	res, err := tx.ExecContext(ctx, s.q.insertProfile, user.UserID, orgID, user.Email, user.Role)
	if err != nil {
		return "", err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil // the user has a profile already; the deferred rollback drops our org
	}
	if _, err := tx.ExecContext(ctx, s.q.insertAudit, orgID, user.UserID, AuditOrgCreated, string(details)); err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", err
	}
	return orgID, nil
}
