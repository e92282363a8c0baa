package gcal

import (
	"context"
	"time"

	"github.com/voxanne/resilience/safecall"
)

// session is one call's hold on an organisation's link.
type session struct {
	c    *Client
	org  string
	link Link
	auth string // "Bearer " + access token
}

// session loads orgID's link with a token good for the call, refreshing it
// if needed, through a safecall.Call of its own (no breaker: a refused or
// missing link says nothing of Google's health).
func (c *Client) session(ctx context.Context, op, orgID string) (*session, error) {
	if c.initErr != nil {
		return nil, safecall.Mark(c.initErr, safecall.Permanent)
	}
	l, err := safecall.Call(ctx, op, func(ctx context.Context) (Link, error) {
		return c.usableLink(ctx, orgID)
	}, c.tokenOpts...)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, org: orgID}
	s.use(l)
	return s, nil
}

func (s *session) use(l Link) {
	s.link = l
	s.auth = "Bearer " + l.Token.AccessToken
}

// refresh is the WithTokenRefresh hook: Google answered 401 with the
// session's token.
func (s *session) refresh(ctx context.Context) error {
	l, err := s.c.refresh(ctx, s.org, s.link.Token.AccessToken)
	if err != nil {
		return err
	}
	s.use(l)
	return nil
}

// call runs fn, one request to Google, through safecall with the
// organisation's breaker, a refresh on 401 and Google's waits.
func call[T any](ctx context.Context, s *session, op string, fn func(ctx context.Context, auth string) (T, error)) (T, error) {
	c := s.c
	opts := make([]safecall.Option, 0, 4+len(c.opts.callOpts))
	opts = append(opts,
		safecall.WithClassifier(Classify),
		safecall.WithBreaker(c.breakerFor(s.org)),
		safecall.WithTokenRefresh(s.refresh),
		safecall.WithUserMessage(safecall.Auth, c.opts.userMessage))
	opts = append(opts, c.opts.callOpts...)
	return safecall.Call(ctx, op, func(ctx context.Context) (T, error) {
		v, err := fn(ctx, s.auth)
		return v, waitHint(err, time.Now())
	}, opts...)
}
