package gcal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/safecall"
)

// Errors of the link flow. Their class is Permanent: the person linking
// must start again from AuthURL.
var (
	// ErrNoStateKey: the Client has no WithStateKey of at least 32 bytes.
	ErrNoStateKey = errors.New("gcal: link flow needs WithStateKey with at least 32 bytes")
	// ErrInvalidState: the state is malformed or its signature does not
	// match (tampered, or signed with another key).
	ErrInvalidState = errors.New("gcal: invalid link state")
	// ErrStateExpired: the link request is older than WithStateTTL.
	ErrStateExpired = errors.New("gcal: link request expired")
	// ErrStateUsed: the state was used already, or a newer link request
	// has completed since it was made.
	ErrStateUsed = errors.New("gcal: link request already used")
	// ErrNoRefreshToken: Google issued no refresh token, so the link would
	// stop working within the hour.
	ErrNoRefreshToken = errors.New("gcal: Google issued no refresh token")
)

// minStateKey is the shortest key WithStateKey accepts.
const minStateKey = 32

// stateVersion is the first byte of a state's payload.
const stateVersion = 1

// linkRequest is what a state carries.
type linkRequest struct {
	orgID   string
	issued  time.Time
	expires time.Time
	nonce   [16]byte
	payload []byte // as signed
}

// id is the request's RequestID: issue time then nonce, in hex, so that
// later requests sort after earlier ones.
func (r *linkRequest) id() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(r.issued.UnixNano()))
	copy(b[8:], r.nonce[:])
	return hex.EncodeToString(b[:])
}

// AuthURL returns the URL of Google's consent page at which someone of
// orgID links a Google account: offline access with prompt=consent (so that
// Google issues a refresh token) and PKCE S256. Its state names the
// organisation, expires after WithStateTTL, and is signed with the key of
// WithStateKey; the PKCE verifier is derived from it with the same key, so
// that Exchange can complete the link on any instance of the service.
func (c *Client) AuthURL(orgID string) (string, error) {
	if err := c.linkFlowReady(); err != nil {
		return "", err
	}
	if orgID == "" {
		return "", safecall.Mark(errors.New("gcal: AuthURL needs an organisation ID"), safecall.Permanent)
	}
	now := time.Now()
	r := linkRequest{orgID: orgID, issued: now, expires: now.Add(c.opts.stateTTL)}
	if _, err := rand.Read(r.nonce[:]); err != nil {
		return "", fmt.Errorf("gcal: AuthURL: %w", err)
	}
	state := c.signState(&r)
	return c.cfg.AuthCodeURL(state,
		oauth2.AccessTypeOffline,
		oauth2.ApprovalForce,
		oauth2.S256ChallengeOption(c.verifier(&r))), nil
}

func (c *Client) linkFlowReady() error {
	switch {
	case c.initErr != nil:
		return safecall.Mark(c.initErr, safecall.Permanent)
	case len(c.opts.stateKey) < minStateKey:
		return safecall.Mark(ErrNoStateKey, safecall.Permanent)
	}
	return nil
}

// signState encodes r as base64url(payload) "." base64url(HMAC).
func (c *Client) signState(r *linkRequest) string {
	p := make([]byte, 0, 1+8+8+16+len(r.orgID))
	p = append(p, stateVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(r.issued.UnixNano()))
	p = binary.BigEndian.AppendUint64(p, uint64(r.expires.UnixNano()))
	p = append(p, r.nonce[:]...)
	p = append(p, r.orgID...)
	r.payload = p
	return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(c.mac("gcal.state/v1", p))
}

// verifier is the PKCE code verifier of r: 43 characters derived from its
// payload with the state key, known to no one without the key.
func (c *Client) verifier(r *linkRequest) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("gcal.pkce/v1", r.payload))
}

func (c *Client) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, c.opts.stateKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// parseState checks the signature and expiry of state.
func (c *Client) parseState(state string) (*linkRequest, error) {
	p64, m64, ok := strings.Cut(state, ".")
	p, err1 := base64.RawURLEncoding.DecodeString(p64)
	m, err2 := base64.RawURLEncoding.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(m, c.mac("gcal.state/v1", p)) {
		return nil, ErrInvalidState
	}
	if len(p) <= 1+8+8+16 || p[0] != stateVersion {
		return nil, ErrInvalidState
	}
	r := &linkRequest{
		issued:  time.Unix(0, int64(binary.BigEndian.Uint64(p[1:9]))),
		expires: time.Unix(0, int64(binary.BigEndian.Uint64(p[9:17]))),
		orgID:   string(p[33:]),
		payload: p,
	}
	copy(r.nonce[:], p[17:33])
	if !time.Now().Before(r.expires) {
		return r, ErrStateExpired
	}
	return r, nil
}

// Exchange completes a link request: it checks state (signed by this
// service, not expired, not used before and not older than the link it
// would replace), exchanges code for tokens with the PKCE verifier, saves
// the link as Linked, and reads it back before it reports success. The
// link keeps the calendar of the link it replaces. A refused state is
// ErrInvalidState, ErrStateExpired or ErrStateUsed.
func (c *Client) Exchange(ctx context.Context, state, code string) (Link, error) {
	if err := c.linkFlowReady(); err != nil {
		return Link{}, err
	}
	r, err := c.parseState(state)
	if err != nil {
		if r != nil {
			c.audit(ctx, r.orgID, AuditRefused, "link request expired")
		}
		c.log.WarnContext(ctx, "gcal: link state refused", "err", err)
		return Link{}, safecall.Mark(err, safecall.Permanent)
	}
	orgID := r.orgID
	cur, err := c.load(ctx, orgID)
	if err != nil && !errors.Is(err, ErrNotLinked) {
		return Link{}, err
	}
	if cur.RequestID >= r.id() {
		return Link{}, c.refuseState(ctx, orgID)
	}
	if code == "" {
		return Link{}, safecall.Mark(fmt.Errorf("%w: no authorization code", ErrInvalidState), safecall.Permanent)
	}
	tok, err := c.exchangeCode(ctx, code, c.verifier(r))
	if err != nil {
		c.audit(ctx, orgID, AuditRefused, "authorization code refused")
		return Link{}, err
	}
	if tok.RefreshToken == "" {
		c.audit(ctx, orgID, AuditRefused, "no refresh token issued")
		return Link{}, safecall.Mark(ErrNoRefreshToken, safecall.Permanent)
	}
	saved, err := c.saveLink(ctx, cur, r, tok)
	if err != nil {
		return Link{}, err
	}
	back, err := c.load(ctx, orgID)
	if err != nil {
		return Link{}, fmt.Errorf("gcal: reading back the link of org %q: %w", orgID, err)
	}
	switch {
	case back.RequestID > saved.RequestID:
		return Link{}, c.refuseState(ctx, orgID) // a newer request completed meanwhile
	case back.Status != Linked || back.RequestID != saved.RequestID || back.Version < saved.Version ||
		back.Token == nil || back.Token.RefreshToken != tok.RefreshToken:
		return Link{}, safecall.Mark(fmt.Errorf("gcal: the store did not return the link of org %q it saved", orgID), safecall.Temporary)
	}
	ev := AuditLinked
	if cur.Version > 0 && cur.Status != NotLinked {
		ev = AuditRelinked
	}
	c.audit(ctx, orgID, ev, "")
	c.clearRefused(orgID)
	c.log.InfoContext(ctx, "gcal: calendar linked", "org", orgID, "version", back.Version)
	return back, nil
}

// refuseState audits and returns the error of a used or superseded state.
func (c *Client) refuseState(ctx context.Context, orgID string) error {
	c.audit(ctx, orgID, AuditRefused, "link request already used")
	c.log.WarnContext(ctx, "gcal: link state used again", "org", orgID)
	return safecall.Mark(ErrStateUsed, safecall.Permanent)
}

// exchangeCode trades an authorization code for tokens. A code can be
// redeemed once, so the request is repeated only when it provably did not
// reach Google.
func (c *Client) exchangeCode(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	opts := append([]safecall.Option{safecall.WithClassifier(Classify)}, c.opts.callOpts...)
	opts = append(opts, safecall.WithIdempotent(false))
	return safecall.Call(ctx, "gcal.exchange", func(ctx context.Context) (*oauth2.Token, error) {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, c.opts.httpClient)
		return c.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	}, opts...)
}

// saveLink saves the new link of request r over cur, retrying on top of
// changes made meanwhile by refreshes, and refusing r if a request at
// least as new completed first.
func (c *Client) saveLink(ctx context.Context, cur Link, r *linkRequest, tok *oauth2.Token) (Link, error) {
	for range maxSaveAttempts {
		next := Link{
			OrgID:      r.orgID,
			Token:      tok,
			CalendarID: cur.CalendarID,
			Status:     Linked,
			RequestID:  r.id(),
			Version:    cur.Version,
		}
		saved, err := c.store.Save(ctx, next)
		if err == nil {
			c.saved(ctx, saved)
			return saved, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Link{}, fmt.Errorf("gcal: save link of org %q: %w", r.orgID, err)
		}
		cur, err = c.load(ctx, r.orgID)
		if err != nil {
			return Link{}, err
		}
		if cur.RequestID >= r.id() {
			return Link{}, c.refuseState(ctx, r.orgID)
		}
	}
	return Link{}, fmt.Errorf("gcal: save link of org %q: %w", r.orgID, ErrConflict)
}

// clearRefused forgets a refused refresh token of orgID.
func (c *Client) clearRefused(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refused, orgID)
}
