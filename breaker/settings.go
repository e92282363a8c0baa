package breaker

import (
	"context"
	"errors"
	"math"
	"time"
)

// Settings configures a Breaker or every breaker of a Registry. The zero
// value is usable: each zero field means the default documented on it.
type Settings struct {
	// ConsecutiveFailures trips a closed breaker after this many failures
	// in a row, whether or not FailureRatio is set. Default 3; a negative
	// value disables the rule (to trip on the ratio alone). Like the other
	// counts below, it is capped at math.MaxInt32.
	ConsecutiveFailures int

	// FailureRatio, when in (0, 1], trips a closed breaker when the share
	// of failures among the last Window calls reaches it, once at least
	// MinCalls calls are in the window.
	FailureRatio float64
	// Window is the number of most recent calls FailureRatio looks at.
	// Default 20, at most 65,536 (larger values are capped).
	Window int
	// MinCalls is how many calls the window must hold before the ratio can
	// trip the breaker. Default 10 (capped at Window).
	MinCalls int

	// Cooldown is how long an open breaker rejects calls before it admits
	// probes. Default 30s.
	Cooldown time.Duration
	// MaxCooldown caps the cooldown, which doubles each time a failed probe
	// re-opens the breaker. Default Cooldown (no doubling).
	MaxCooldown time.Duration

	// HalfOpenProbes is how many calls a half-open breaker lets through at
	// once. Default 1. When every probe is in flight and none was admitted
	// for a Cooldown, the probes count as lost (a caller that never called
	// done): the breaker starts a fresh half-open period and ignores them.
	HalfOpenProbes int
	// SuccessesToClose is how many successful probes close a half-open
	// breaker. Default 1.
	SuccessesToClose int

	// IsFailure reports whether an error counts as a failure. Nil: every
	// non-nil error does. An error it rejects counts as a success (the
	// dependency answered). context.Canceled is always neutral: the caller
	// gave up, which says nothing about the dependency.
	IsFailure func(error) bool

	// OnStateChange, if set, is called after every change of state, with
	// no lock held: it may call back into the breaker. The changes of one
	// breaker are reported one at a time and in order: a change made while
	// an earlier one is being reported (by another goroutine, or by this
	// callback) is reported by the goroutine reporting the earlier one,
	// once that call returns.
	OnStateChange func(Transition)

	// Now is the clock; nil means time.Now. A test seam: testing/synctest
	// works with the default.
	Now func() time.Time

	// Store, if set, shares open circuits with other instances (see Store).
	Store Store
}

// outcome is what a call's result means to the breaker.
type outcome uint8

const (
	neutral outcome = iota
	success
	failure
)

// ErrPanicked is what Do reports to the breaker when fn panics, and what
// other wrappers (safecall) should pass to done for a call that panicked:
// it always counts as a failure, whatever Settings.IsFailure says.
var ErrPanicked = errors.New("breaker: call panicked")

// config is Settings with defaults applied, shared by all breakers of a
// registry.
type config struct {
	consecutive      int32 // 0: disabled
	ratio            float64
	window, minCalls int
	cooldown         time.Duration
	maxCooldown      time.Duration
	probes           int32
	successes        int32
	isFailure        func(error) bool
	onChange         func(Transition)
	now              func() time.Time
	base             time.Time // times are kept as nanoseconds since base
	store            Store
}

func newConfig(s Settings) *config {
	c := &config{
		consecutive: count(s.ConsecutiveFailures),
		cooldown:    s.Cooldown,
		maxCooldown: s.MaxCooldown,
		probes:      count(s.HalfOpenProbes),
		successes:   count(s.SuccessesToClose),
		isFailure:   s.IsFailure,
		onChange:    s.OnStateChange,
		now:         s.Now,
		store:       s.Store,
	}
	if s.FailureRatio > 0 {
		c.ratio = min(s.FailureRatio, 1)
		c.window = min(s.Window, maxWindow)
		if c.window <= 0 {
			c.window = 20
		}
		c.minCalls = s.MinCalls
		if c.minCalls <= 0 {
			c.minCalls = 10
		}
		c.minCalls = min(c.minCalls, c.window)
	}
	if c.consecutive == 0 {
		c.consecutive = 3
	}
	if c.consecutive < 0 {
		c.consecutive = 0
	}
	if c.cooldown <= 0 {
		c.cooldown = 30 * time.Second
	}
	if c.maxCooldown < c.cooldown {
		c.maxCooldown = c.cooldown
	}
	if c.probes <= 0 {
		c.probes = 1
	}
	if c.successes <= 0 {
		c.successes = 1
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.base = c.now()
	return c
}

// maxWindow caps Settings.Window: the window keeps one byte per call.
const maxWindow = 1 << 16

// count converts a count setting to int32, capping it rather than letting
// it wrap around (1<<31 would turn negative, 1<<32+1 into 1).
func count(n int) int32 {
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}

// classify turns a call's error into an outcome.
func (c *config) classify(err error) outcome {
	switch {
	case err == nil:
		return success
	case errors.Is(err, ErrPanicked):
		return failure
	case errors.Is(err, context.Canceled):
		return neutral
	case c.isFailure != nil && !c.isFailure(err):
		return success
	}
	return failure
}

// clock returns the current time and the nanoseconds since base.
func (c *config) clock() (time.Time, int64) {
	t := c.now()
	return t, int64(t.Sub(c.base))
}

// at converts nanoseconds since base back to a time.
func (c *config) at(ns int64) time.Time { return c.base.Add(time.Duration(ns)) }
