package tenant

import (
	"context"
	"errors"
	"time"
)

// Source says where the organisation in an Info came from.
type Source uint8

const (
	// SourceClaim: the verified token carried the organisation.
	SourceClaim Source = iota + 1
	// SourceDirectory: the token had none; the Directory knew it.
	SourceDirectory
	// SourceProvisioned: the user had none; the Provisioner created it.
	SourceProvisioned
)

// String returns "claim", "directory" or "provisioned".
func (s Source) String() string {
	switch s {
	case SourceClaim:
		return "claim"
	case SourceDirectory:
		return "directory"
	case SourceProvisioned:
		return "provisioned"
	}
	return "unknown"
}

// Info is the verified tenant of a request.
type Info struct {
	UserID string
	OrgID  string
	Email  string
	Role   string
	Source Source
}

// Claims is what a Verifier extracts from a valid token.
type Claims struct {
	Subject string
	Email   string
	Role    string
	// OrgID is read from the verified org claim (app_metadata.org_id by
	// default); "" when the token carries none.
	OrgID     string
	Issuer    string
	ExpiresAt time.Time
}

// ErrNoOrg is returned by a Directory for a user who belongs to no organisation.
var ErrNoOrg = errors.New("tenant: user has no organization")

// Directory finds the organisation of a user, for tokens that do not carry it.
type Directory interface {
	// OrgForUser returns the user's organisation, or ErrNoOrg.
	OrgForUser(ctx context.Context, userID string) (orgID string, err error)
}

// Provisioner creates an organisation for a user who has none and links the
// user to it. It must be idempotent and race-safe: concurrent calls for one
// user create one organisation and all return its ID.
type Provisioner interface {
	Provision(ctx context.Context, user Info) (orgID string, err error)
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying info.
func NewContext(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// FromContext returns the tenant put in ctx by Middleware or NewContext.
func FromContext(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(ctxKey{}).(Info)
	return info, ok
}
