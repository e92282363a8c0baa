package breaker

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrShared is the Cause of a transition learned from the Store: another
// instance opened or closed the circuit.
var ErrShared = errors.New("breaker: changed by another instance")

// Store shares open circuits between instances of a service, so that when
// one instance finds a tenant's dependency down the others stop calling it
// too, and when one instance's probe finds it back the others close.
//
// What is shared is the open period of each key and the close that ends
// it. What stays local is everything else: failure counts and windows,
// which calls probe a half-open breaker, the doubling of the cooldown, and
// the success path of a closed breaker, which never touches the Store.
//
// Breakers publish every change to Open or Closed of their own making, in
// order, right after Settings.OnStateChange and like it with no lock held,
// on the goroutine that caused the change (or one reporting an earlier
// change). They learn what others published when they are created and when
// Sync is called (a networked store calls it for each key another instance
// changed). Neither method may block or fail the caller: a store that talks
// to a network answers OpenUntil from a local mirror, queues what it
// publishes (dropping, and counting, what does not fit) and reports its own
// failures, in its logs and health, not to the breaker.
//
// MemoryStore is the in-process implementation; breaker/redisstore shares
// state between processes through Redis.
type Store interface {
	// Publish records a transition of t.Key to Open, until openUntil, or
	// to Closed (openUntil is then zero).
	Publish(t Transition, openUntil time.Time)
	// OpenUntil returns when the open period last published for key ends
	// (a time in the past once it has ended), or the zero time if key was
	// published closed or never opened.
	OpenUntil(key string) time.Time
}

// Sync adopts the state of the breaker's key that other instances
// published to the Store:
//   - open until a time later than this breaker's own open period: the
//     breaker opens until then (from Closed or HalfOpen; the cooldown is
//     not doubled);
//   - closed: an open or half-open breaker closes (the instance whose
//     probe succeeded closed the circuit everywhere);
//   - open until a time that has passed: nothing changes (every instance
//     admits probes once the period ends).
//
// Its transitions have Cause ErrShared and are not published again.
// Without a Store Sync does nothing; it returns ctx.Err() if ctx is done
// and nil otherwise, so that it fits redisstore's Store.Watch.
func (b *Breaker) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil || b.cfg.store == nil {
		return err
	}
	until := b.cfg.store.OpenUntil(b.key)
	_, now := b.cfg.clock()
	b.mu.Lock()
	from := b.gen.Load()
	if until.IsZero() {
		if from.state == Closed {
			b.mu.Unlock()
			return nil
		}
		b.enterAndUnlock(from, Closed, ErrShared, now, never)
		return nil
	}
	u := int64(until.Sub(b.cfg.base))
	if u <= now || (from.state == Open && from.until.Load() >= u) {
		b.mu.Unlock()
		return nil
	}
	b.enterAndUnlock(from, Open, ErrShared, now, u)
	return nil
}

// adopt starts a new breaker b open if its key is open in the Store, and
// reports whether b must now report the transition (b.report, with no
// lock held).
func (b *Breaker) adopt() bool {
	until := b.cfg.store.OpenUntil(b.key)
	if until.IsZero() {
		return false
	}
	_, now := b.cfg.clock()
	u := int64(until.Sub(b.cfg.base))
	if u <= now {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	from := b.gen.Load()
	g := b.enter(Open, now, u)
	return b.queue(from.state, g, ErrShared, now)
}

// MemoryStore is a Store kept in memory, for breakers of several
// registries in one process (and for tests). The zero value is ready to
// use; it is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	open map[string]time.Time
}

var _ Store = (*MemoryStore)(nil)

// Publish records that t.Key is open until openUntil, or closed.
func (s *MemoryStore) Publish(t Transition, openUntil time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.To != Open {
		delete(s.open, t.Key)
		return
	}
	if s.open == nil {
		s.open = make(map[string]time.Time)
	}
	s.open[t.Key] = openUntil
}

// OpenUntil returns when key's published open period ends, or zero.
func (s *MemoryStore) OpenUntil(key string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[key]
}
