package safecall

import (
	"context"
	"errors"

	"github.com/voxanne/resilience/breaker"
)

// Call calls fn until it succeeds or the policy gives up, and returns its
// result. op names the operation in errors and retry events ("gcal.book").
// Each attempt gets ctx, or a child of it bounded by WithAttemptTimeout.
// When it gives up, Call returns the zero T and an *Error that unwraps to the
// last error. No attempt starts after ctx is done and Call leaves no
// goroutine behind. A panic in fn is recorded by the breaker as a failure and
// then propagates.
func Call[T any](ctx context.Context, op string, fn func(context.Context) (T, error), opts ...Option) (T, error) {
	var c config
	c.load(opts)
	var s retryState
	for {
		if err := ctx.Err(); err != nil {
			var zero T
			return zero, s.stopped(op, Canceled, err).withMessage(opts)
		}
		var done func(error)
		if c.breaker != nil {
			d, err := c.breaker.Allow()
			if err != nil {
				var zero T
				return zero, s.stopped(op, CircuitOpen, err).withMessage(opts)
			}
			done = d
		}
		s.begin(&c)
		v, class, err := attempt(ctx, &c, fn, done)
		if err == nil {
			return v, nil
		}
		if e := s.next(ctx, &c, op, class, err); e != nil {
			var zero T
			return zero, e.withMessage(opts)
		}
	}
}

// Run is Call for a function with no result.
func Run(ctx context.Context, op string, fn func(context.Context) error, opts ...Option) error {
	_, err := Call(ctx, op, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	}, opts...)
	return err
}

// attempt calls fn once, classifies its failure and reports the outcome to
// the breaker's done, if any.
func attempt[T any](ctx context.Context, c *config, fn func(context.Context) (T, error), done func(error)) (v T, class Class, err error) {
	if done == nil && c.attemptTimeout <= 0 {
		v, err = fn(ctx)
		if err != nil {
			class = c.classOf(ctx, ctx, err)
		}
		return v, class, err
	}
	actx, cancel := ctx, context.CancelFunc(nil)
	if c.attemptTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.attemptTimeout)
	}
	reported := done == nil
	defer func() {
		if cancel != nil {
			cancel()
		}
		if !reported { // fn or the classifier panicked
			reported = true
			done(breaker.ErrPanicked)
		}
	}()
	v, err = fn(actx)
	if err != nil {
		class = c.classOf(ctx, actx, err)
	}
	if !reported {
		reported = true
		done(breakerOutcome(class, err))
	}
	return v, class, err
}

// classOf classifies the failure of an attempt made with actx, a child of ctx.
func (c *config) classOf(ctx, actx context.Context, err error) Class {
	if ctx.Err() != nil {
		return Canceled
	}
	if actx != ctx && actx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return Temporary
	}
	if c.classify != nil {
		return c.classify(err)
	}
	return Classify(err)
}

// breakerOutcome is what a breaker is told of an attempt: a Permanent failure
// is a success (the dependency answered); RateLimit (the dependency is alive
// and asked us to wait) and Canceled (the caller gave up) are
// context.Canceled, which breakers count as neither success nor failure.
func breakerOutcome(class Class, err error) error {
	if err == nil {
		return nil
	}
	switch class {
	case Permanent:
		return nil
	case RateLimit, Canceled:
		return context.Canceled
	}
	return err
}

// panicError is what the waiters of a Refresher get when its fn panics.
type panicError struct{}

func (panicError) Error() string { return "safecall: function panicked" }
