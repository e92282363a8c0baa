package health

import (
	"context"
	"fmt"
	"slices"

	"github.com/voxanne/resilience/breaker"
)

const defaultKeyLimit = 10

// BreakerSource is anything that lists circuit breakers, such as a
// *breaker.Registry of any key type.
type BreakerSource interface {
	Snapshot() []breaker.Snapshot
}

// SnapshotFunc adapts a function to a BreakerSource, e.g. to watch lone
// breakers: SnapshotFunc(func() []breaker.Snapshot { return []breaker.Snapshot{b.Snapshot()} }).
type SnapshotFunc func() []breaker.Snapshot

// Snapshot calls f.
func (f SnapshotFunc) Snapshot() []breaker.Snapshot { return f() }

// WithKeyLimit sets how many breaker keys the Breakers check lists in its
// details (default 10; zero or negative keeps the default).
func WithKeyLimit(n int) CheckOption {
	return func(c *checkConfig) {
		if n > 0 {
			c.keyLimit = n
		}
	}
}

// Breakers returns a Check named name that is Healthy while every breaker of
// source is closed, and fails (Critical, or Degraded for a non-critical
// check) while some are open or half-open, saying how many in its message.
// The keys, which name tenants, are in the details only: total, open and
// halfOpen, plus, when some are not closed, keys (open ones first, each
// sorted, up to the key limit) and more (keys not listed).
func Breakers(name string, source BreakerSource, opts ...CheckOption) Check {
	cfg := newCheckConfig(opts)
	return Check{
		Name:     name,
		Timeout:  cfg.timeout,
		Critical: cfg.critical,
		Func: func(context.Context) Result {
			return breakersResult(source.Snapshot(), cfg)
		},
	}
}

func breakersResult(snaps []breaker.Snapshot, cfg checkConfig) Result {
	var open, halfOpen []string
	for _, s := range snaps {
		switch s.State {
		case breaker.Open:
			open = append(open, s.Key)
		case breaker.HalfOpen:
			halfOpen = append(halfOpen, s.Key)
		}
	}
	if len(open)+len(halfOpen) == 0 {
		return Result{
			Status:  Healthy,
			Message: fmt.Sprintf("all %d circuit breakers closed", len(snaps)),
			Details: map[string]any{"total": len(snaps), "open": 0, "halfOpen": 0},
		}
	}
	slices.Sort(open)
	slices.Sort(halfOpen)
	keys := append(open, halfOpen...)
	more := 0
	if len(keys) > cfg.keyLimit {
		keys, more = keys[:cfg.keyLimit:cfg.keyLimit], len(keys)-cfg.keyLimit
	}
	rec := cfg.recommendation
	if rec == "" {
		rec = "Calls through open circuit breakers fail fast until the dependency recovers; check the dependency behind the keys listed in the details"
	}
	return Result{
		Status: Critical,
		Message: fmt.Sprintf("%d of %d circuit breakers not closed (%d open, %d half-open)",
			len(open)+len(halfOpen), len(snaps), len(open), len(halfOpen)),
		Details: map[string]any{
			"total":    len(snaps),
			"open":     len(open),
			"halfOpen": len(halfOpen),
			"keys":     keys,
			"more":     more,
		},
		Recommendation: rec,
	}
}
