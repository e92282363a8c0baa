package breaker

import (
	"sync/atomic"
	"time"
)

// Transitions are queued (cold.pending) under the breaker's mutex and
// reported to Settings.OnStateChange and the Store in that order, with no
// lock held, by one goroutine at a time: a transition made while another
// goroutine is still reporting an earlier one (or by a listener calling
// back into the breaker) is reported after it, never before.

type note struct {
	t     Transition
	until time.Time // t.To == Open: end of the open period
}

// queue records the change from state from to generation g for the
// listeners and reports whether the caller must now call report. b.mu must
// be held.
func (b *Breaker) queue(from State, g *generation, cause error, now int64) bool {
	if from == g.state || (b.cfg.onChange == nil && b.cfg.store == nil) {
		return false
	}
	q := b.coldFields()
	n := note{t: Transition{Key: b.key, From: from, To: g.state, At: b.cfg.at(now), Cause: cause}}
	if g.state == Open {
		n.until = b.cfg.at(g.until.Load())
	}
	q.pending = append(q.pending, n)
	if q.reporting {
		return false
	}
	q.reporting = true
	return true
}

// report tells the listeners about queued transitions, in order, until
// none is left. b.mu must not be held.
func (b *Breaker) report() {
	done := false
	defer func() {
		if !done { // a listener panicked: the next transition reports the rest
			b.mu.Lock()
			b.cold.reporting = false
			b.mu.Unlock()
		}
	}()
	for {
		b.mu.Lock()
		q := b.cold
		if len(q.pending) == 0 {
			q.pending = nil
			q.reporting = false
			b.mu.Unlock()
			done = true
			return
		}
		n := q.pending[0]
		q.pending = q.pending[1:]
		b.mu.Unlock()
		b.tell(n)
	}
}

func (b *Breaker) tell(n note) {
	if b.cfg.onChange != nil {
		b.cfg.onChange(n.t)
	}
	if b.cfg.store != nil && n.t.To != HalfOpen && n.t.Cause != ErrShared {
		b.cfg.store.Publish(n.t, n.until)
	}
}

// extend raises v to at least x.
func extend(v *atomic.Int64, x int64) {
	for old := v.Load(); old < x && !v.CompareAndSwap(old, x); old = v.Load() {
	}
}
