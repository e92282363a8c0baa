package breaker

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker. It is safe for concurrent use. Create one
// with New, or one per key with a Registry.
//
// A closed breaker costs two atomic loads per call: no lock, no clock
// read and no allocation on the success path.
type Breaker struct {
	gen  atomic.Pointer[generation]
	key  string
	cfg  *config
	seen atomic.Uint32 // registry epoch of the last Get

	// (The fields are ordered to fit 64 bytes: a registry holds many.)
	mu        sync.Mutex // serialises transitions and guards the fields below
	doublings int32      // of the cooldown since the breaker last closed
	win       *window    // failure-ratio window; nil unless FailureRatio is set
	cold      *cold      // what few breakers need; nil until then
}

// cold holds what few breakers need, so that the many that never change
// state stay small. It is guarded by Breaker.mu.
type cold struct {
	pending   []note // transitions not yet reported, oldest first
	reporting bool   // a goroutine is reporting them (see report)
	// live, set when a registry drops the breaker, returns the breaker
	// the registry holds for the same key now.
	live func() *Breaker
}

// coldFields returns b.cold, allocating it if needed. b.mu must be held.
func (b *Breaker) coldFields() *cold {
	if b.cold == nil {
		b.cold = &cold{}
	}
	return b.cold
}

// successor returns, for a breaker its registry dropped, a function that
// returns the breaker the registry holds for the key now (creating it if
// needed); otherwise nil. b.mu must be held, and released before the
// function is called: it takes the registry's lock.
func (b *Breaker) successor() func() *Breaker {
	if b.cold == nil {
		return nil
	}
	return b.cold.live
}

// generation is one stay in one state. A result reported to a generation
// that is no longer current is ignored, so a call that started before a
// state change cannot affect the new state.
type generation struct {
	b     *Breaker
	done  func(error) // Closed: handed out by Allow; made once per generation
	since int64       // when the state was entered, ns since cfg.base; never for a new breaker
	// until is, for Open, when probes may start (set before the generation
	// is installed, then fixed); for HalfOpen, when the probes in flight
	// count as stuck: a cooldown after the last one was admitted.
	until atomic.Int64

	state    State
	failures atomic.Int32 // Closed: consecutive failures

	inflight  atomic.Int32 // HalfOpen: probes admitted and not yet done
	successes atomic.Int32 // HalfOpen: successful probes
}

// never is the since of a new breaker's first generation (and, to enter,
// no time given).
const never = math.MinInt64

// New returns a breaker configured by s: closed, or open if s.Store says
// that other instances opened it (a lone breaker's key is "").
func New(s Settings) *Breaker {
	b, adopted := newBreaker("", newConfig(s))
	if adopted {
		b.report()
	}
	return b
}

// newBreaker returns a breaker for key, closed or, if the Store says so,
// open; adopted says that the caller must then call report with no lock
// held.
func newBreaker(key string, cfg *config) (b *Breaker, adopted bool) {
	b = &Breaker{key: key, cfg: cfg}
	if cfg.ratio > 0 {
		b.win = newWindow(cfg.window)
	}
	b.gen.Store(b.newGen(Closed, never))
	if cfg.store != nil {
		adopted = b.adopt()
	}
	return b, adopted
}

func (b *Breaker) newGen(s State, since int64) *generation {
	g := &generation{b: b, state: s, since: since}
	if s == Closed {
		g.done = g.closedDone
	}
	return g
}

// Allow asks to make one call. If the breaker rejects it, err is an
// *OpenError matching ErrOpen. Otherwise the caller makes the call and must
// then call done exactly once with its error (nil for success).
//
// The done of a closed breaker is shared by all its calls, so that the
// success path does not allocate: calling it again reports another call.
// A half-open breaker's probes each get their own done, which reports
// once, however often it is called.
func (b *Breaker) Allow() (done func(error), err error) {
	g := b.gen.Load()
	if g.state == Closed {
		return g.done, nil
	}
	return b.allowSlow(g)
}

func (b *Breaker) allowSlow(g *generation) (func(error), error) {
	for {
		switch g.state {
		case Closed:
			return g.done, nil
		case Open:
			_, now := b.cfg.clock()
			if until := g.until.Load(); now < until {
				return nil, &OpenError{Key: b.key, RetryAfter: time.Duration(until - now)}
			}
			g = b.transition(g, HalfOpen, nil, now)
		case HalfOpen:
			_, now := b.cfg.clock()
			for n := g.inflight.Load(); n < b.cfg.probes; n = g.inflight.Load() {
				// Push the stuck deadline before taking the slot, so that a
				// caller who finds every slot taken also sees the deadline.
				extend(&g.until, later(now, b.cfg.cooldown))
				if g.inflight.CompareAndSwap(n, n+1) {
					return g.probe(), nil
				}
			}
			// Probes that never report (a caller that forgot done) must not
			// wedge the breaker: when no probe was admitted for a cooldown,
			// those in flight are stuck; start a fresh half-open generation,
			// whose probes the stale ones cannot disturb.
			if now < g.until.Load() {
				return nil, &OpenError{Key: b.key}
			}
			g = b.transition(g, HalfOpen, nil, now)
		}
	}
}

// State returns the breaker's state. An open breaker whose cooldown has
// passed reports (and becomes) half-open, as the next Allow would see it.
func (b *Breaker) State() State {
	return b.current().state
}

// current returns the current generation, after moving an open breaker
// whose cooldown has passed to half-open.
func (b *Breaker) current() *generation {
	g := b.gen.Load()
	if g.state == Open {
		if _, now := b.cfg.clock(); now >= g.until.Load() {
			g = b.transition(g, HalfOpen, nil, now)
		}
	}
	return g
}

// Snapshot returns a point-in-time view of the breaker.
func (b *Breaker) Snapshot() Snapshot {
	b.current()
	b.mu.Lock()
	g := b.gen.Load() // all fields below describe this one generation
	s := Snapshot{
		Key:                 b.key,
		State:               g.state,
		ConsecutiveFailures: int(g.failures.Load()),
		Cooldown:            b.cooldown(),
	}
	if b.win != nil {
		s.WindowCalls, s.WindowFailures = b.win.calls, b.win.failures
	}
	b.mu.Unlock()
	if g.since != never {
		s.Since = b.cfg.at(g.since)
	}
	if g.state == Open {
		if _, now := b.cfg.clock(); g.until.Load() > now {
			s.RetryAfter = time.Duration(g.until.Load() - now)
		}
	}
	return s
}

// Reset closes the breaker and forgets its failures and cooldown.
func (b *Breaker) Reset() {
	_, now := b.cfg.clock()
	b.mu.Lock()
	b.enterAndUnlock(b.gen.Load(), Closed, nil, now, never)
}

// evictable reports whether the breaker is closed with no failure on
// record, so that dropping it is the same as keeping it.
func (b *Breaker) evictable() bool {
	if g := b.gen.Load(); g.state != Closed || g.failures.Load() != 0 {
		return false
	}
	if b.win == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.win.failures == 0
}

// evictableLocked is evictable for a caller that holds b.mu.
func (b *Breaker) evictableLocked() bool {
	g := b.gen.Load()
	return g.state == Closed && g.failures.Load() == 0 &&
		(b.win == nil || b.win.failures == 0)
}

// Do runs fn if b allows it and records the result. A panic in fn counts
// as a failure and is re-raised.
func Do[T any](b *Breaker, fn func() (T, error)) (T, error) {
	done, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	ok := false
	defer func() {
		if !ok {
			done(ErrPanicked)
		}
	}()
	v, err := fn()
	ok = true
	done(err)
	return v, err
}
