package breaker

import (
	"math"
	"time"
)

// trip opens the breaker from generation g, which failed with cause.
func (b *Breaker) trip(g *generation, cause error) {
	_, now := b.cfg.clock()
	b.transition(g, Open, cause, now)
}

// transition moves the breaker from generation from to a new generation in
// state to, unless another transition got there first. It returns the
// current generation either way. Listeners are told after the lock is
// released.
func (b *Breaker) transition(from *generation, to State, cause error, now int64) *generation {
	b.mu.Lock()
	if cur := b.gen.Load(); cur != from {
		b.mu.Unlock()
		return cur
	}
	return b.enterAndUnlock(from, to, cause, now, never)
}

// enterAndUnlock installs a new generation in state to (see enter), queues
// the change from generation from for the listeners, releases b.mu, which
// must be held, and reports. It returns the new generation.
func (b *Breaker) enterAndUnlock(from *generation, to State, cause error, now, until int64) *generation {
	g := b.enter(to, now, until)
	report := b.queue(from.state, g, cause, now)
	b.mu.Unlock()
	if report {
		b.report()
	}
	return g
}

// enter installs a new generation in state s. For Open, until, unless
// never, replaces the cooldown. b.mu must be held.
func (b *Breaker) enter(s State, now, until int64) *generation {
	g := b.newGen(s, now)
	switch s {
	case Open:
		if until == never {
			if b.gen.Load().state == HalfOpen && b.cooldown() < b.cfg.maxCooldown {
				b.doublings++
			}
			until = later(now, b.cooldown())
		}
		g.until.Store(until)
	case HalfOpen:
		g.until.Store(later(now, b.cfg.cooldown))
	case Closed:
		b.doublings = 0
	}
	if s != HalfOpen && b.win != nil {
		b.win.reset()
	}
	b.gen.Store(g)
	return g
}

// cooldown returns the length of the present or last open period:
// Settings.Cooldown doubled b.doublings times, up to MaxCooldown. b.mu must
// be held.
func (b *Breaker) cooldown() time.Duration {
	c := b.cfg.cooldown
	for range b.doublings {
		if c > b.cfg.maxCooldown/2 {
			return b.cfg.maxCooldown
		}
		c *= 2
	}
	return min(c, b.cfg.maxCooldown)
}

// later returns now+d, saturating rather than overflowing.
func later(now int64, d time.Duration) int64 {
	return now + min(int64(d), math.MaxInt64-max(now, 0))
}
