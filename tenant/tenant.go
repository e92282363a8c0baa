package tenant

import (
	"context"
	"errors"
	"fmt"
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
	// Anonymous is true for a user of Supabase's anonymous sign-ins
	// (is_anonymous), which Middleware refuses unless WithAnonymous(true).
	Anonymous bool
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
	// Anonymous is the is_anonymous claim of Supabase's anonymous sign-ins.
	Anonymous bool

	// strayOrg names where our verifiers found an organisation ID that the
	// configured org claim does not read ("" if nowhere), for Middleware's
	// configuration warning.
	strayOrg string
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

// infoContext is a context carrying an Info: like context.WithValue, with
// the Info stored in place rather than boxed in an interface.
type infoContext struct {
	context.Context
	info Info
}

// Value returns a *Info for ctxKey{}; other keys go to the parent.
func (c *infoContext) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// String describes the context, like context.WithValue's.
func (c *infoContext) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(tenant.Info)"
}

// NewContext returns a copy of ctx carrying info.
func NewContext(ctx context.Context, info Info) context.Context {
	if ctx == nil {
		panic("tenant: NewContext with a nil parent context")
	}
	return &infoContext{Context: ctx, info: info}
}

// FromContext returns the tenant put in ctx by Middleware or NewContext.
func FromContext(ctx context.Context) (Info, bool) {
	if c, ok := ctx.(*infoContext); ok {
		return c.info, true
	}
	if p, ok := ctx.Value(ctxKey{}).(*Info); ok {
		return *p, true
	}
	return Info{}, false
}
