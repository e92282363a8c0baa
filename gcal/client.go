package gcal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// Client books in the Google Calendars of many organisations, each linked
// with its own OAuth token kept in a TokenStore. It refreshes tokens before
// they expire, saves every refreshed token before using it, and sends every
// request through safecall and the organisation's circuit breaker. A Client
// is safe for concurrent use and starts no goroutine.
type Client struct {
	cfg       oauth2.Config
	store     TokenStore
	opts      options
	svc       *calendar.Service
	initErr   error // a configuration error every call returns
	log       *slog.Logger
	revokeURL string
	tokenOpts []safecall.Option // of the calls that load and refresh a link

	mu      sync.Mutex
	flights map[string]*flight  // org -> refresh in progress
	seen    map[string]seenLink // org -> what the last access showed
	refused map[string][32]byte // org -> hash of the refresh token Google refused
}

// New returns a Client that links organisations through cfg (Google's OAuth
// client: ClientID, ClientSecret, RedirectURL, Scopes, and Endpoint, e.g.
// google.Endpoint) and keeps their links in store. An Endpoint whose
// AuthStyle is AuthStyleAutoDetect is used as AuthStyleInParams, Google's,
// so that a refused token costs one request, not two. A nil cfg or store
// makes every call fail with an error saying so.
func New(cfg *oauth2.Config, store TokenStore, opts ...Option) *Client {
	o := options{skew: DefaultRefreshSkew, stateTTL: DefaultStateTTL, userMessage: DefaultUserMessage}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.httpClient == nil {
		o.httpClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if o.breakers == nil {
		o.breakers = breaker.NewRegistry[string](breaker.Settings{})
	}
	if o.stateTTL <= 0 {
		o.stateTTL = DefaultStateTTL
	}
	c := &Client{
		store:   store,
		opts:    o,
		log:     o.logger,
		flights: make(map[string]*flight),
		seen:    make(map[string]seenLink),
		refused: make(map[string][32]byte),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.tokenOpts = append([]safecall.Option{
		safecall.WithClassifier(Classify),
		safecall.WithUserMessage(safecall.Auth, o.userMessage),
	}, o.callOpts...)
	switch {
	case cfg == nil:
		c.initErr = errors.New("gcal: New was given a nil *oauth2.Config")
		return c
	case store == nil:
		c.initErr = errors.New("gcal: New was given a nil TokenStore")
		return c
	}
	c.cfg = *cfg
	if c.cfg.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		c.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	c.revokeURL = revokeURLFor(c.cfg.Endpoint.TokenURL)
	if o.revokeURL != nil {
		c.revokeURL = *o.revokeURL
	}
	svcOpts := []option.ClientOption{option.WithHTTPClient(o.httpClient)}
	if o.endpoint != "" {
		svcOpts = append(svcOpts, option.WithEndpoint(o.endpoint))
	}
	svc, err := calendar.NewService(context.Background(), svcOpts...)
	if err != nil {
		c.initErr = fmt.Errorf("gcal: calendar service: %w", err)
		return c
	}
	c.svc = svc
	return c
}

// revokeURLFor guesses the revocation endpoint beside a token endpoint.
func revokeURLFor(tokenURL string) string {
	u, err := url.Parse(tokenURL)
	if err != nil || u.Host == "" || path.Base(u.Path) != "token" {
		return ""
	}
	u.Path = path.Join(path.Dir(u.Path), "revoke")
	return u.String()
}

// Status returns the status of orgID's link: NotLinked, with a nil error,
// for an organisation that has none. It makes no request to Google.
func (c *Client) Status(ctx context.Context, orgID string) (Status, error) {
	if c.initErr != nil {
		return "", c.initErr
	}
	l, err := c.load(ctx, orgID)
	switch {
	case errors.Is(err, ErrNotLinked):
		return NotLinked, nil
	case err != nil:
		return "", err
	}
	return l.Status, nil
}

// Unlink removes orgID's link: the tokens are forgotten (the link is saved
// as NotLinked) and, unless WithRevokeURL("") was given, the grant is
// revoked at Google. Unlinking an organisation without a link does
// nothing. A failed revocation is logged and audited but is not an error:
// the tokens are already gone from the store.
func (c *Client) Unlink(ctx context.Context, orgID string) error {
	if c.initErr != nil {
		return c.initErr
	}
	for range maxSaveAttempts {
		cur, err := c.load(ctx, orgID)
		if errors.Is(err, ErrNotLinked) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Status == NotLinked {
			return nil
		}
		next := cur.clone()
		next.Status, next.Token, next.Reason = NotLinked, nil, ""
		saved, err := c.store.Save(ctx, next)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("gcal: unlink org %q: %w", orgID, err)
		}
		c.saved(ctx, saved)
		detail := "tokens forgotten"
		if cur.Token != nil && c.revokeURL != "" {
			if err := c.revoke(ctx, cur.Token.RefreshToken); err != nil {
				c.log.WarnContext(ctx, "gcal: revoking the grant failed", "org", orgID, "err", err)
				detail += "; revocation at Google failed"
			} else {
				detail += "; grant revoked at Google"
			}
		}
		c.audit(ctx, orgID, AuditUnlinked, detail)
		c.log.InfoContext(ctx, "gcal: unlinked", "org", orgID)
		return nil
	}
	return fmt.Errorf("gcal: unlink org %q: %w", orgID, ErrConflict)
}

// revoke revokes a refresh token at Google; a token Google no longer
// knows counts as revoked.
func (c *Client) revoke(ctx context.Context, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.revokeURL,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.opts.httpClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest {
		return nil // 400 is invalid_token: already revoked or expired
	}
	return fmt.Errorf("gcal: revoke: %s", resp.Status)
}

// breakerFor returns the breaker of orgID as safecall needs it.
func (c *Client) breakerFor(orgID string) orgBreaker {
	return orgBreaker{c.opts.breakers.Get(orgID)}
}

// orgBreaker tells an organisation's breaker what Google's answers mean:
// a 401 (a token to refresh) and a rate limit (Google asks us to wait)
// say nothing of its health and are reported as neutral; safecall already
// reports other 4xx as successes.
type orgBreaker struct{ b *breaker.Breaker }

func (o orgBreaker) Allow() (func(error), error) {
	done, err := o.b.Allow()
	if err != nil {
		return nil, err
	}
	return func(err error) {
		if err != nil {
			if c := Classify(err); c == safecall.Auth || c == safecall.RateLimit {
				err = context.Canceled // neutral to a breaker
			}
		}
		done(err)
	}, nil
}

// Snapshot lets safecall see that the breaker stays open past a wait.
func (o orgBreaker) Snapshot() breaker.Snapshot { return o.b.Snapshot() }
