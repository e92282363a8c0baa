package gcal

import (
	"context"
	"time"
)

// AuditEvent names a credential access.
type AuditEvent string

// The credential accesses a Client records.
const (
	// AuditLoaded: a link was read from the TokenStore.
	AuditLoaded AuditEvent = "loaded"
	// AuditRefreshed: Google issued a new access token for a refresh token.
	AuditRefreshed AuditEvent = "refreshed"
	// AuditSaved: a link was written to the TokenStore.
	AuditSaved AuditEvent = "saved"
	// AuditRefused: Google refused a refresh token or an authorization
	// code, or Exchange refused a link request.
	AuditRefused AuditEvent = "refused"
	// AuditLinked: an organisation linked an account for the first time.
	AuditLinked AuditEvent = "linked"
	// AuditRelinked: an organisation linked an account again.
	AuditRelinked AuditEvent = "relinked"
	// AuditUnlinked: an organisation's link was removed.
	AuditUnlinked AuditEvent = "unlinked"
)

// AuditEntry records one credential access. It never holds a token.
type AuditEntry struct {
	OrgID string
	Event AuditEvent
	At    time.Time
	// Detail adds a short fact, such as the version saved or why a
	// request was refused; never a token or a secret.
	Detail string
}

// AuditSink records credential accesses, e.g. in a database table
// (gcal/sqlstore.Store is one). It must be safe for concurrent use.
type AuditSink interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// auditTimeout bounds the recording of one audit entry.
const auditTimeout = 5 * time.Second

// audit records a credential access. A sink that fails is logged, and the
// access goes on: an outage of the audit log must not stop bookings.
func (c *Client) audit(ctx context.Context, orgID string, ev AuditEvent, detail string) {
	if c.opts.audit == nil {
		return
	}
	e := AuditEntry{OrgID: orgID, Event: ev, At: time.Now(), Detail: detail}
	// Recorded even when the caller has given up, within a bound of its own.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := c.opts.audit.Audit(actx, e); err != nil {
		c.log.WarnContext(ctx, "gcal: audit failed", "org", orgID, "event", string(ev), "err", err)
	}
}
