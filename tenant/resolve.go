package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"
)

// resolver finds the organisation of users whose token carries none, and
// checks the membership of those whose token does.
type resolver struct {
	dir        Directory
	prov       Provisioner
	membership bool
	cache      *orgCache
	timeout    time.Duration
	retryAfter time.Duration
	logger     *slog.Logger
	sf         singleflight.Group
}

// Flight key prefixes: a membership lookup never provisions, so it must not
// share a flight with a resolution.
const (
	flightResolve = "r:"
	flightMember  = "m:"
)

var errEmptyOrg = errors.New("provisioner returned an empty organization ID")

// resolve fills info's OrgID and Source from the cache, the Directory or
// the Provisioner.
func (r *resolver) resolve(ctx context.Context, info Info) (Info, error) {
	if r.dir == nil && r.prov == nil {
		return Info{}, ErrNoOrg
	}
	e, err := r.lookup(ctx, info, true)
	if err != nil {
		return Info{}, err
	}
	info.OrgID, info.Source = e.org, e.source
	return info, nil
}

// checkMember refuses info (whose org came from the token) if membership
// checking is on and the Directory disagrees.
func (r *resolver) checkMember(ctx context.Context, info Info) error {
	if !r.membership {
		return nil
	}
	e, err := r.lookup(ctx, info, false)
	switch {
	case errors.Is(err, ErrNoOrg):
		return ErrNotMember
	case err != nil:
		return err
	case e.org != info.OrgID:
		return ErrNotMember
	}
	return nil
}

// lookup returns the cached entry of info.UserID, or looks it up once for
// all concurrent callers. provision says whether a user without an
// organisation gets one.
func (r *resolver) lookup(ctx context.Context, info Info, provision bool) (cacheEntry, error) {
	if e, ok := r.cache.get(info.UserID, time.Now()); ok {
		return e, nil
	}
	key := flightMember + info.UserID
	if provision {
		key = flightResolve + info.UserID
	}
	ch := r.sf.DoChan(key, func() (any, error) {
		// The lookup outlives a caller that gives up: others may share it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		return r.load(fctx, info, provision)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return cacheEntry{}, res.Err
		}
		return res.Val.(cacheEntry), nil
	case <-ctx.Done():
		return cacheEntry{}, r.unavailable("directory", ctx.Err())
	}
}

// load asks the Directory, then the Provisioner, and caches a success.
func (r *resolver) load(ctx context.Context, info Info, provision bool) (e cacheEntry, err error) {
	defer func() {
		// A panicking Directory would crash the process from inside singleflight.
		if p := recover(); p != nil {
			e, err = cacheEntry{}, r.unavailable("directory", fmt.Errorf("panic: %v", p))
		}
	}()
	if e, ok := r.cache.get(info.UserID, time.Now()); ok {
		return e, nil // filled by a flight that ended while this one started
	}
	org, err := "", ErrNoOrg
	src := SourceDirectory
	if r.dir != nil {
		org, err = r.dir.OrgForUser(ctx, info.UserID)
		if err == nil && org == "" {
			err = ErrNoOrg
		}
		if err != nil && !errors.Is(err, ErrNoOrg) {
			return cacheEntry{}, r.unavailable("directory", err)
		}
	}
	if err != nil && provision && r.prov != nil {
		src = SourceProvisioned
		org, err = r.prov.Provision(ctx, info)
		if err == nil && org == "" {
			err = errEmptyOrg
		}
		if err != nil && !errors.Is(err, ErrNoOrg) {
			return cacheEntry{}, r.unavailable("provision", err)
		}
		if err == nil && r.logger != nil {
			r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant: organization provisioned",
				slog.String("user", info.UserID), slog.String("org", org))
		}
	}
	if err != nil {
		return cacheEntry{}, err // ErrNoOrg: not cached, so a new membership is seen at once
	}
	now := time.Now()
	r.cache.put(info.UserID, org, src, now)
	return cacheEntry{user: info.UserID, org: org, source: src}, nil
}

func (r *resolver) unavailable(op string, err error) error {
	return &UnavailableError{Op: op, Err: err, After: r.retryAfter}
}
