package breaker

import (
	"math"
	"sync/atomic"
)

// closedDone records the result of a call admitted by a closed generation.
func (g *generation) closedDone(err error) {
	b := g.b
	if err == nil && b.win == nil {
		// The hot path: a success with no window to update. A stale
		// generation's count is nobody's concern.
		if g.failures.Load() != 0 {
			g.failures.Store(0)
		}
		return
	}
	o := b.cfg.classify(err)
	if o == neutral || b.gen.Load() != g {
		return
	}
	if b.win != nil {
		b.mu.Lock()
		if b.gen.Load() != g {
			b.mu.Unlock()
			return
		}
		if live := b.successor(); live != nil {
			b.mu.Unlock()
			if o == failure {
				live().lateFailure(err)
			}
			return
		}
		b.win.add(o == failure)
		trip := o == failure && b.win.calls >= b.cfg.minCalls &&
			float64(b.win.failures) >= b.cfg.ratio*float64(b.win.calls)
		b.mu.Unlock()
		if trip {
			b.trip(g, err)
			return
		}
	}
	if o == success {
		if g.failures.Load() != 0 {
			g.failures.Store(0)
		}
		return
	}
	n := increment(&g.failures)
	if b.seen.Load() == dropped {
		// The registry dropped b while the call ran (see Registry.drop).
		b.mu.Lock()
		live := b.successor()
		b.mu.Unlock()
		if live != nil {
			live().lateFailure(err)
			return
		}
	}
	if b.cfg.consecutive > 0 && n >= b.cfg.consecutive {
		b.trip(g, err)
	}
}

// lateFailure counts the failure of a call that a dropped predecessor of b
// admitted, if b is closed: as for any result that started before a state
// change, an open or half-open b ignores it.
func (b *Breaker) lateFailure(err error) {
	if g := b.gen.Load(); g.state == Closed {
		g.closedDone(err)
	}
}

// probe returns the done of one probe admitted by half-open generation g.
// It reports the first result only: a probe that reported twice would
// count as two successes or free a second slot.
func (g *generation) probe() func(error) {
	var reported atomic.Bool
	return func(err error) {
		if reported.CompareAndSwap(false, true) {
			g.probeDone(err)
		}
	}
}

// probeDone records the result of a probe admitted by a half-open generation.
func (g *generation) probeDone(err error) {
	b := g.b
	o := b.cfg.classify(err)
	if b.gen.Load() != g {
		return
	}
	g.inflight.Add(-1)
	switch o {
	case failure:
		b.trip(g, err)
	case success:
		if increment(&g.successes) >= b.cfg.successes {
			_, now := b.cfg.clock()
			b.transition(g, Closed, nil, now)
		}
	}
}

// increment adds one to v, unless v is math.MaxInt32, and returns the
// new value.
func increment(v *atomic.Int32) int32 {
	for {
		n := v.Load()
		if n == math.MaxInt32 {
			return n
		}
		if v.CompareAndSwap(n, n+1) {
			return n + 1
		}
	}
}
