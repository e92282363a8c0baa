package safecall

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/voxanne/resilience/breaker"
)

// retryState is the state of one Call between its attempts.
type retryState struct {
	attempts       int
	retries        int // retries taken, not counting the one after a refresh
	networkRetried bool
	refreshed      bool
	start          time.Time // start of the current attempt, with a refresh hook only
	last           error     // error of the last failed attempt
	bo             *backoff.ExponentialBackOff
}

// begin marks the start of an attempt.
func (s *retryState) begin(c *config) {
	s.attempts++
	if c.refresh != nil {
		s.start = time.Now()
	}
}

// next decides what follows the failed attempt: nil to try again (after the
// wait, already done), or the final error.
func (s *retryState) next(ctx context.Context, c *config, op string, class Class, err error) *Error {
	s.last = err
	switch class {
	case Permanent, CircuitOpen, Canceled:
		return newError(op, class, s.attempts, err)
	case Auth:
		return s.refresh(ctx, c, op, err)
	}
	if c.notIdempotent && !notProcessed(err, class) {
		return newError(op, class, s.attempts, err)
	}
	if s.retries >= c.retries {
		return newError(op, class, s.attempts, err)
	}
	s.retries++
	wait := s.wait(c, class, err)
	if oe := stillOpen(c.breaker, wait); oe != nil {
		return s.stopped(op, CircuitOpen, oe)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Add(wait).Before(dl) {
		return newError(op, class, s.attempts, err)
	}
	if c.onRetry != nil {
		c.onRetry(RetryEvent{Op: op, Attempt: s.attempts, Class: class, Err: err, Wait: wait})
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return s.stopped(op, Canceled, ctx.Err())
	}
}

// wait returns how long to wait before the next attempt.
func (s *retryState) wait(c *config, class Class, err error) time.Duration {
	if class == Network && !s.networkRetried {
		s.networkRetried = true
		return 0
	}
	if s.bo == nil {
		s.bo = &backoff.ExponentialBackOff{
			InitialInterval:     c.initial,
			RandomizationFactor: c.jitter,
			Multiplier:          2,
			MaxInterval:         c.maxBackoff,
			Stop:                backoff.Stop,
			Clock:               backoff.SystemClock,
		}
		s.bo.Reset()
	}
	wait := s.bo.NextBackOff()
	if ra := retryAfter(err); ra > 0 {
		wait = ra
	}
	return min(wait, c.maxWait)
}

// *breaker.Breaker is the Breaker this package is made for.
var (
	_ Breaker     = (*breaker.Breaker)(nil)
	_ snapshotter = (*breaker.Breaker)(nil)
)

// snapshotter is the optional part of a Breaker that lets Call see, before
// waiting, that the breaker will still be open when the wait ends.
type snapshotter interface {
	Snapshot() breaker.Snapshot
}

// stillOpen returns the rejection the next attempt would get if b stays open
// longer than wait, or nil.
func stillOpen(b Breaker, wait time.Duration) *breaker.OpenError {
	sb, ok := b.(snapshotter)
	if !ok {
		return nil
	}
	if snap := sb.Snapshot(); snap.State == breaker.Open && snap.RetryAfter > wait {
		return &breaker.OpenError{Key: snap.Key, RetryAfter: snap.RetryAfter}
	}
	return nil
}

// refresh handles an Auth failure: with a refresh hook not yet used, it
// refreshes and returns nil so that the call is tried once more.
func (s *retryState) refresh(ctx context.Context, c *config, op string, err error) *Error {
	if c.refresh == nil || s.refreshed {
		return newError(op, Auth, s.attempts, err)
	}
	s.refreshed = true
	if rerr := c.refresh(context.WithValue(ctx, attemptStartKey{}, s.start)); rerr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return s.stopped(op, Canceled, cerr)
		}
		return newError(op, Auth, s.attempts, errors.Join(err, rerr))
	}
	if c.onRetry != nil {
		c.onRetry(RetryEvent{Op: op, Attempt: s.attempts, Class: Auth, Err: err})
	}
	return nil
}

// stopped is the final error of a call that stopped for reason (its
// context's error, class Canceled, or a breaker's rejection, class
// CircuitOpen): reason joined with the last attempt's error, if any.
func (s *retryState) stopped(op string, class Class, reason error) *Error {
	err := reason
	if s.last != nil {
		err = errors.Join(reason, s.last)
	}
	return newError(op, class, s.attempts, err)
}

func newError(op string, class Class, attempts int, err error) *Error {
	return &Error{
		Op:         op,
		Class:      class,
		Attempts:   attempts,
		Err:        err,
		RetryAfter: retryAfter(err),
	}
}
