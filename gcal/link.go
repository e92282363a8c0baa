package gcal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Status is the state of an organisation's link to Google Calendar.
type Status string

const (
	// NotLinked: the organisation has not linked a Google account, or
	// unlinked it.
	NotLinked Status = "not_linked"
	// Linked: the link works (its access token is refreshed as needed).
	Linked Status = "linked"
	// RelinkRequired: Google refused the refresh token (revoked access,
	// changed password, expired grant); someone at the organisation must
	// link the account again.
	RelinkRequired Status = "relink_required"
)

// Link is an organisation's link to a Google account: its OAuth token and
// the calendar its bookings go to.
type Link struct {
	OrgID string
	// Token holds the access and refresh tokens; nil unless Status is
	// Linked.
	Token *oauth2.Token
	// CalendarID is the calendar bookings go to; "" means "primary".
	CalendarID string
	Status     Status
	// Reason says, in a sentence fit to show a user, why the link needs
	// attention; "" while it is Linked.
	Reason string
	// RequestID identifies the link request (see Client.AuthURL) that made
	// this link: its issue time and a nonce, not a secret. Exchange
	// refuses a state that is not newer, so each state links at most once.
	RequestID string
	// Version counts the saves of the link; 0 means never saved. See
	// TokenStore.
	Version   int64
	UpdatedAt time.Time
}

// Validate reports whether l can be saved: an OrgID, a known Status, and,
// for a Linked link, a token with a refresh token. Stores call it in Save;
// the error wraps ErrInvalidLink.
func (l Link) Validate() error {
	switch {
	case l.OrgID == "":
		return fmt.Errorf("%w: empty OrgID", ErrInvalidLink)
	case l.Status != NotLinked && l.Status != Linked && l.Status != RelinkRequired:
		return fmt.Errorf("%w: unknown status %q", ErrInvalidLink, l.Status)
	case l.Status == Linked && (l.Token == nil || l.Token.RefreshToken == ""):
		return fmt.Errorf("%w: a linked link needs a token with a refresh token", ErrInvalidLink)
	case l.Version < 0:
		return fmt.Errorf("%w: negative version", ErrInvalidLink)
	}
	return nil
}

// clone returns a copy of l that shares no token with it.
func (l Link) clone() Link {
	if l.Token != nil {
		t := *l.Token
		l.Token = &t
	}
	return l
}

// TokenStore keeps the links of organisations. Implementations must be safe
// for concurrent use, and Save must be atomic across every process that
// shares the store.
type TokenStore interface {
	// Load returns the link of orgID, or ErrNotLinked when the
	// organisation has none.
	Load(ctx context.Context, orgID string) (Link, error)
	// Save stores l only if the stored version equals l.Version (0 meaning
	// nothing stored): a compare-and-swap. It then sets Version to that + 1
	// and UpdatedAt, and returns the stored link. When the stored version
	// differs it stores nothing and returns ErrConflict; a link that fails
	// Validate is an error wrapping ErrInvalidLink.
	Save(ctx context.Context, l Link) (Link, error)
}

// MemoryStore is a TokenStore in memory, for tests and single-process
// tools. The zero value is ready to use; it is safe for concurrent use.
type MemoryStore struct {
	mu    sync.Mutex
	links map[string]Link
	// Now is the clock for UpdatedAt; nil means time.Now.
	Now func() time.Time
}

var _ TokenStore = (*MemoryStore)(nil)

// Load returns a copy of the link of orgID, or ErrNotLinked.
func (m *MemoryStore) Load(_ context.Context, orgID string) (Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[orgID]
	if !ok {
		return Link{}, ErrNotLinked
	}
	return l.clone(), nil
}

// Save stores a copy of l if its Version is the stored one; see TokenStore.
func (m *MemoryStore) Save(_ context.Context, l Link) (Link, error) {
	if err := l.Validate(); err != nil {
		return Link{}, err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links[l.OrgID].Version != l.Version {
		return Link{}, ErrConflict
	}
	if m.links == nil {
		m.links = make(map[string]Link)
	}
	l = l.clone()
	l.Version++
	l.UpdatedAt = now()
	m.links[l.OrgID] = l
	return l.clone(), nil
}

// Errors about links.
var (
	// ErrNotLinked: the organisation has no link to Google Calendar (or
	// unlinked it). Its class is Auth: someone must link it.
	ErrNotLinked = errors.New("gcal: organisation has not linked Google Calendar")
	// ErrRelinkRequired: Google refused the organisation's refresh token;
	// the link is saved as RelinkRequired and no token request is made
	// until it is linked again. The error is a *RelinkError; its class is
	// Auth.
	ErrRelinkRequired = errors.New("gcal: Google Calendar must be linked again")
	// ErrConflict: Save found a version other than the one it was given.
	ErrConflict = errors.New("gcal: link changed since it was loaded")
	// ErrInvalidLink: Save was given a link that cannot be stored.
	ErrInvalidLink = errors.New("gcal: invalid link")
)

// RelinkError is the error of a call made for an organisation whose link
// needs to be made again. It matches ErrRelinkRequired.
type RelinkError struct {
	OrgID string
	// Reason says, in a sentence fit to show a user, what happened and
	// what to do.
	Reason string
}

func (e *RelinkError) Error() string {
	return "gcal: org " + e.OrgID + ": Google Calendar must be linked again: " + e.Reason
}

// Is makes errors.Is(err, ErrRelinkRequired) hold.
func (e *RelinkError) Is(target error) bool { return target == ErrRelinkRequired }
