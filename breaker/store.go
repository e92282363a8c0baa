package breaker

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrShared is the Cause of a transition to Open that was learned from the
// Store: another instance opened the circuit.
var ErrShared = errors.New("breaker: opened by another instance")

// Store shares open circuits between instances of a service, so that when
// one instance finds a tenant's dependency down the others stop calling it
// too. Breakers publish every change to Open or Closed, in order, right
// after Settings.OnStateChange and like it with no lock held (on the
// goroutine that caused the change or one reporting an earlier change, so
// Publish should be quick and report its own errors); Sync adopts what
// other instances published.
//
// MemoryStore is the in-process implementation; a Redis one lets
// separate processes share state.
type Store interface {
	// Publish records a transition. openUntil is when the open period
	// ends, for t.To == Open; zero otherwise.
	Publish(ctx context.Context, t Transition, openUntil time.Time) error
	// OpenUntil returns when the open period published for key ends, or
	// the zero time if key is not open.
	OpenUntil(ctx context.Context, key string) (time.Time, error)
}

// Sync adopts the shared state from the Store: if another instance has
// opened this breaker's key until a later time than this breaker knows, the
// breaker opens until then (from Closed or HalfOpen, a transition with
// Cause ErrShared; the cooldown is not doubled). Without a Store, Sync does
// nothing.
func (b *Breaker) Sync(ctx context.Context) error {
	if b.cfg.store == nil {
		return nil
	}
	until, err := b.cfg.store.OpenUntil(ctx, b.key)
	if err != nil || until.IsZero() {
		return err
	}
	_, now := b.cfg.clock()
	u := int64(until.Sub(b.cfg.base))
	if u <= now {
		return nil
	}
	b.mu.Lock()
	from := b.gen.Load()
	if from.state == Open && from.until.Load() >= u {
		b.mu.Unlock()
		return nil
	}
	b.enterAndUnlock(from, Open, ErrShared, now, u)
	return nil
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
func (s *MemoryStore) Publish(_ context.Context, t Transition, openUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.To != Open {
		delete(s.open, t.Key)
		return nil
	}
	if s.open == nil {
		s.open = make(map[string]time.Time)
	}
	s.open[t.Key] = openUntil
	return nil
}

// OpenUntil returns when key's published open period ends, or zero.
func (s *MemoryStore) OpenUntil(_ context.Context, key string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[key], nil
}
