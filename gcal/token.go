package gcal

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"
)

// maxSaveAttempts bounds the compare-and-swap rounds of one save.
const maxSaveAttempts = 4

// tokenMargin: a token that expires within it is no longer used at all.
const tokenMargin = 10 * time.Second

// fresh reports whether t can be used without a refresh: it is good for
// longer than the refresh skew.
func (c *Client) fresh(t *oauth2.Token) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || time.Until(t.Expiry) > c.opts.skew)
}

// valid reports whether t can still be used at all.
func valid(t *oauth2.Token) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || time.Until(t.Expiry) > tokenMargin)
}

// load reads orgID's link from the store, audited.
func (c *Client) load(ctx context.Context, orgID string) (Link, error) {
	if orgID == "" {
		return Link{}, ErrNotLinked
	}
	l, err := c.store.Load(ctx, orgID)
	if errors.Is(err, ErrNotLinked) {
		c.forget(orgID)
		return Link{}, err
	}
	if err != nil {
		return Link{}, fmt.Errorf("gcal: load link of org %q: %w", orgID, err)
	}
	c.audit(ctx, orgID, AuditLoaded, "version "+strconv.FormatInt(l.Version, 10))
	c.see(l)
	return l, nil
}

// saved records a successful save.
func (c *Client) saved(ctx context.Context, l Link) {
	c.audit(ctx, l.OrgID, AuditSaved, string(l.Status)+", version "+strconv.FormatInt(l.Version, 10))
	c.see(l)
}

// statusError is the error of a call made with l: nil for a Linked link.
func statusError(l Link) error {
	switch l.Status {
	case Linked:
		if l.Token == nil {
			return fmt.Errorf("gcal: org %q: %w: linked without a token", l.OrgID, ErrInvalidLink)
		}
		return nil
	case RelinkRequired:
		return &RelinkError{OrgID: l.OrgID, Reason: l.Reason}
	}
	return ErrNotLinked
}

// usableLink returns orgID's link with a token good for longer than the
// refresh skew, refreshing it if needed.
func (c *Client) usableLink(ctx context.Context, orgID string) (Link, error) {
	l, err := c.load(ctx, orgID)
	if err != nil {
		return Link{}, err
	}
	if err := statusError(l); err != nil {
		return Link{}, err
	}
	if c.fresh(l.Token) {
		return l, nil
	}
	return c.refresh(ctx, orgID, l.Token.AccessToken)
}

// flight is a refresh in progress, shared by the calls that wait for it.
type flight struct {
	done     chan struct{}
	link     Link
	err      error
	canceled bool // the leader's context ended during the refresh
}

var errRefreshPanicked = errors.New("gcal: token refresh panicked")

// refresh returns orgID's link with a token other than rejected (the one
// that expires or that Google refused with a 401), good for use. One
// refresh per organisation runs at a time in a Client; calls that need one
// meanwhile wait for it and share its result, unless it was cut short by
// the end of its leader's context while theirs goes on.
func (c *Client) refresh(ctx context.Context, orgID, rejected string) (Link, error) {
	for tries := 0; ; tries++ {
		c.mu.Lock()
		f := c.flights[orgID]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			c.flights[orgID] = f
			c.mu.Unlock()
			return c.lead(ctx, orgID, rejected, f)
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Link{}, ctx.Err()
		}
		switch {
		case f.canceled && ctx.Err() == nil:
			continue
		case f.err == nil && tries == 0 && f.link.Token.AccessToken == rejected:
			continue // that refresh began before ours was rejected
		case f.err != nil:
			return Link{}, f.err
		}
		return f.link.clone(), nil
	}
}

// lead runs a refresh for everyone waiting on f.
func (c *Client) lead(ctx context.Context, orgID, rejected string, f *flight) (Link, error) {
	f.err = errRefreshPanicked // what waiters get if renew panics
	defer func() {
		f.canceled = f.err != nil && ctx.Err() != nil
		c.mu.Lock()
		delete(c.flights, orgID)
		c.mu.Unlock()
		close(f.done)
	}()
	f.link, f.err = c.renew(ctx, orgID, rejected)
	if f.err != nil {
		return Link{}, f.err
	}
	return f.link.clone(), nil
}

// renew re-reads the link, uses its token if another call or process has
// refreshed it meanwhile, and otherwise asks Google for a new one and saves
// it before returning it.
func (c *Client) renew(ctx context.Context, orgID, rejected string) (Link, error) {
	cur, err := c.load(ctx, orgID)
	if err != nil {
		return Link{}, err
	}
	if err := statusError(cur); err != nil {
		return Link{}, err
	}
	if cur.Token.AccessToken != rejected && c.fresh(cur.Token) {
		return cur, nil
	}
	if c.wasRefused(orgID, cur.Token.RefreshToken) {
		return Link{}, &RelinkError{OrgID: orgID, Reason: relinkReason("")}
	}
	tok, err := c.requestToken(ctx, cur.Token.RefreshToken)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return c.markRelink(ctx, cur, re.ErrorDescription)
		}
		c.setFailing(orgID, true)
		c.log.WarnContext(ctx, "gcal: token refresh failed", "org", orgID, "err", err)
		return Link{}, err
	}
	c.audit(ctx, orgID, AuditRefreshed, "")
	return c.saveRefreshed(ctx, cur, tok)
}

// requestToken asks the token endpoint for a new access token, once, within
// ctx. The token source is made for this one request: x/oauth2's reuse layer
// never holds a token that the store has not seen.
func (c *Client) requestToken(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.opts.httpClient)
	return c.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// saveRefreshed saves tok as cur's new token. When another call or process
// saved first, it uses the token now stored if that one is newer and valid,
// and otherwise saves tok on top of the newer version (keeping its other
// fields); it never writes without the version it read.
func (c *Client) saveRefreshed(ctx context.Context, cur Link, tok *oauth2.Token) (Link, error) {
	next := cur.clone()
	next.Token, next.Status, next.Reason = tok, Linked, ""
	for range maxSaveAttempts {
		saved, err := c.store.Save(ctx, next)
		if err == nil {
			c.saved(ctx, saved)
			c.setFailing(saved.OrgID, false)
			c.log.InfoContext(ctx, "gcal: token refreshed", "org", saved.OrgID, "version", saved.Version)
			return saved, nil
		}
		if !errors.Is(err, ErrConflict) {
			c.setFailing(cur.OrgID, true)
			return Link{}, fmt.Errorf("gcal: save refreshed token of org %q: %w", cur.OrgID, err)
		}
		latest, err := c.load(ctx, cur.OrgID)
		if err != nil {
			return Link{}, err
		}
		if err := statusError(latest); err != nil {
			return Link{}, err // unlinked or refused meanwhile: never resurrect it
		}
		switch {
		case latest.Token.AccessToken != cur.Token.AccessToken && valid(latest.Token):
			c.log.DebugContext(ctx, "gcal: another refresh was saved first; using its token", "org", cur.OrgID)
			return latest, nil
		case latest.Token.RefreshToken != cur.Token.RefreshToken:
			return latest, nil // linked again meanwhile: tok belongs to the old grant
		}
		next = latest.clone()
		next.Token = tok
	}
	return Link{}, fmt.Errorf("gcal: save refreshed token of org %q: %w", cur.OrgID, ErrConflict)
}

// markRelink saves cur as RelinkRequired after Google refused its refresh
// token, and returns the RelinkError of the call. When the link changed
// meanwhile, the newer link wins: a new grant is returned for use.
func (c *Client) markRelink(ctx context.Context, cur Link, description string) (Link, error) {
	orgID := cur.OrgID
	reason := relinkReason(description)
	c.audit(ctx, orgID, AuditRefused, "invalid_grant")
	c.setRefused(orgID, cur.Token.RefreshToken)
	relinkErr := &RelinkError{OrgID: orgID, Reason: reason}
	next := cur.clone()
	for range maxSaveAttempts {
		next.Status, next.Reason, next.Token = RelinkRequired, reason, nil
		saved, err := c.store.Save(ctx, next)
		if err == nil {
			c.saved(ctx, saved)
			c.log.WarnContext(ctx, "gcal: Google refused the refresh token; the link must be made again", "org", orgID)
			return Link{}, relinkErr
		}
		if !errors.Is(err, ErrConflict) {
			c.log.ErrorContext(ctx, "gcal: saving a refused link failed", "org", orgID, "err", err)
			return Link{}, errors.Join(relinkErr, fmt.Errorf("gcal: save link of org %q: %w", orgID, err))
		}
		latest, err := c.load(ctx, orgID)
		if err != nil {
			return Link{}, errors.Join(relinkErr, err)
		}
		if err := statusError(latest); err != nil {
			return Link{}, err
		}
		if latest.Token.RefreshToken != cur.Token.RefreshToken {
			return latest, nil // linked again meanwhile
		}
		next = latest.clone()
	}
	return Link{}, relinkErr
}

// relinkReason is the Reason of a link whose refresh token Google refused.
func relinkReason(description string) string {
	const what = "Google no longer accepts this calendar link (access was removed, the password changed, or the grant expired)"
	const todo = ". Link Google Calendar again to resume bookings."
	d := printable(description, 200)
	if d == "" {
		return what + todo
	}
	return what + `: "` + d + `"` + todo
}

// printable returns s without control characters, cut to n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return strings.TrimSpace(s)
}

// setRefused remembers that Google refused orgID's refresh token, so that
// it is never sent again, even if the store could not be told.
func (c *Client) setRefused(orgID, refreshToken string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused[orgID] = sha256.Sum256([]byte(refreshToken))
}

// wasRefused reports whether Google refused refreshToken of orgID before.
func (c *Client) wasRefused(orgID, refreshToken string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.refused[orgID]
	if !ok {
		return false
	}
	if h == sha256.Sum256([]byte(refreshToken)) {
		return true
	}
	delete(c.refused, orgID) // linked again since
	return false
}
