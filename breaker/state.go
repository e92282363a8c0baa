package breaker

import (
	"strconv"
	"time"
)

// State is the state of a circuit breaker.
type State uint8

const (
	// Closed lets every call through and counts failures.
	Closed State = iota
	// HalfOpen lets a few probe calls through to test the dependency.
	HalfOpen
	// Open rejects every call until its cooldown has passed.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Transition describes a change of state, as passed to Settings.OnStateChange.
type Transition struct {
	Key  string
	From State
	To   State
	At   time.Time
	// Cause is the error that tripped or re-opened the breaker; nil for
	// other transitions.
	Cause error
}

// Snapshot is a point-in-time view of one breaker, for health checks and metrics.
type Snapshot struct {
	Key   string
	State State
	// ConsecutiveFailures counts failures since the last success in the
	// closed state.
	ConsecutiveFailures int
	// WindowCalls and WindowFailures describe the failure-ratio window;
	// both are zero when Settings.FailureRatio is not set.
	WindowCalls    int
	WindowFailures int
	// RetryAfter is how long an open breaker keeps rejecting; zero otherwise.
	RetryAfter time.Duration
	// Cooldown is the length of the present open period or, half-open, of
	// the last one (a failed probe doubles it, up to Settings.MaxCooldown);
	// when closed, Settings.Cooldown, which the breaker uses when it next opens.
	Cooldown time.Duration
	// Since is when the breaker entered its current state (zero for a
	// breaker that has been closed since it was created).
	Since time.Time
}
