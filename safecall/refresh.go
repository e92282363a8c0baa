package safecall

import (
	"context"
	"sync"
	"time"
)

// Refresher merges the token refreshes of concurrent calls that share one
// credential: however many calls fail with Auth together, the refresh
// function runs once and they all wait for it. Keep one Refresher per
// credential (per tenant and provider, say) and pass its Refresh method to
// WithTokenRefresh. A Refresher is safe for concurrent use; the zero value
// refreshes nothing.
type Refresher struct {
	fn func(context.Context) error

	mu       sync.Mutex
	inflight *refresh
	last     time.Time // when the last successful refresh ended
}

type refresh struct {
	done     chan struct{}
	err      error
	canceled bool // the leader's context ended during the refresh
}

// NewRefresher returns a Refresher that refreshes the credential with fn.
func NewRefresher(fn func(context.Context) error) *Refresher {
	return &Refresher{fn: fn}
}

// Refresh refreshes the credential, or waits for the refresh already under
// way and returns its result, failure included; only when that refresh was
// cut short by the end of its own caller's context does a waiter whose
// context is still live refresh again. Called by Call (through
// WithTokenRefresh), it returns nil at once when a refresh has succeeded
// since the failed attempt started: that attempt used the old token and the
// new one is ready.
func (r *Refresher) Refresh(ctx context.Context) error {
	if r.fn == nil {
		return nil
	}
	start, fromCall := ctx.Value(attemptStartKey{}).(time.Time)
	for {
		r.mu.Lock()
		if fromCall && !r.last.IsZero() && r.last.After(start) {
			r.mu.Unlock()
			return nil
		}
		if f := r.inflight; f != nil {
			r.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if f.canceled && ctx.Err() == nil {
				continue // the leader's context ended, not ours: try again
			}
			return f.err
		}
		f := &refresh{done: make(chan struct{})}
		r.inflight = f
		r.mu.Unlock()
		return r.lead(ctx, f)
	}
}

// lead runs the refresh for everyone waiting on f.
func (r *Refresher) lead(ctx context.Context, f *refresh) error {
	f.err = panicError{} // what waiters get if fn panics
	defer func() {
		f.canceled = f.err != nil && ctx.Err() != nil
		r.mu.Lock()
		r.inflight = nil
		if f.err == nil {
			r.last = time.Now()
		}
		r.mu.Unlock()
		close(f.done)
	}()
	f.err = r.fn(ctx)
	return f.err
}

// attemptStartKey carries the start of the failed attempt to Refresh.
type attemptStartKey struct{}
