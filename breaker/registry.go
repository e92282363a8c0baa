package breaker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds one Breaker per key (a tenant, a tenant and vendor pair),
// created on first use. It is safe for concurrent use.
//
// Memory is bounded: breakers that are closed, idle and have no failure on
// record are dropped (such a breaker behaves exactly like a new one), when
// idle for the idle TTL or, least recently used first, when the registry
// reaches its maximum size (then also when not used during the last
// quarter-maximum of new keys). Open and half-open breakers are never dropped,
// so a flood of new keys cannot wipe out protection; if every tracked
// breaker is open or half-open the registry grows past its maximum.
type Registry[K comparable] struct {
	cfg     *config
	maxKeys int
	idleTTL time.Duration

	m     sync.Map      // K -> *Breaker
	count atomic.Int64  // breakers in m
	epoch atomic.Uint32 // advances every idleTTL/2; breakers remember the epoch of their last Get

	mu          sync.Mutex // serialises inserts and sweeps
	epochStart  int64      // ns since cfg.base
	epochInsert int        // inserts in this epoch
	lastSweep   int64
}

// RegistryOption configures a Registry.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	maxKeys int
	idleTTL time.Duration
}

// WithMaxKeys bounds the number of tracked breakers (default 100,000).
func WithMaxKeys(n int) RegistryOption {
	return func(o *registryOptions) { o.maxKeys = n }
}

// WithIdleTTL sets how long a closed breaker with no failures may go unused
// before it is dropped (default 10 minutes).
func WithIdleTTL(d time.Duration) RegistryOption {
	return func(o *registryOptions) { o.idleTTL = d }
}

// NewRegistry returns an empty registry whose breakers use s.
func NewRegistry[K comparable](s Settings, opts ...RegistryOption) *Registry[K] {
	o := registryOptions{maxKeys: 100_000, idleTTL: 10 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxKeys <= 0 {
		o.maxKeys = 100_000
	}
	if o.idleTTL <= 0 {
		o.idleTTL = 10 * time.Minute
	}
	r := &Registry[K]{cfg: newConfig(s), maxKeys: o.maxKeys, idleTTL: o.idleTTL}
	r.epoch.Store(1)
	return r
}

// Get returns the breaker for key, creating it if needed. Getting an
// existing breaker takes no lock, reads no clock and does not allocate.
func (r *Registry[K]) Get(key K) *Breaker {
	if v, ok := r.m.Load(key); ok {
		b := v.(*Breaker)
		if e := r.epoch.Load(); b.seen.Load() != e {
			b.seen.Store(e)
		}
		return b
	}
	return r.insert(key)
}

func (r *Registry[K]) insert(key K) *Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.m.Load(key); ok {
		return v.(*Breaker)
	}
	_, now := r.cfg.clock()
	// An epoch ends after idleTTL/2, or after maxKeys/8 inserts so that a
	// full registry can tell the least recently used breakers apart.
	r.epochInsert++
	if now-r.epochStart >= int64(r.idleTTL/2) || r.epochInsert > r.maxKeys/8 {
		r.newEpoch(now)
	}
	if r.count.Load() >= int64(r.maxKeys) || now-r.lastSweep >= int64(r.idleTTL/2) {
		r.sweep(now)
	}
	b := newBreaker(keyString(key), r.cfg)
	b.seen.Store(r.epoch.Load())
	r.m.Store(key, b)
	r.count.Add(1)
	return b
}

// sweep drops idle breakers and, if the registry is still full, the least
// recently used evictable ones until it is 3/4 full. r.mu must be held.
func (r *Registry[K]) sweep(now int64) {
	r.lastSweep = now
	cur := r.epoch.Load()
	full := r.count.Load() >= int64(r.maxKeys)
	// Evictable breakers not idle yet, by age in epochs (0, 1 or 2): the
	// least recently used are the oldest.
	var byAge [3][]K
	r.m.Range(func(k, v any) bool {
		b := v.(*Breaker)
		if !b.evictable() {
			return true
		}
		// Idle: not used in this epoch nor in the two before, so for at
		// least idleTTL (an epoch lasts idleTTL/2), or during the last
		// quarter of maxKeys inserts at least.
		age := cur - b.seen.Load()
		if age >= 3 {
			r.drop(k.(K), b)
		} else if full {
			byAge[age] = append(byAge[age], k.(K))
		}
		return true
	})
	target := int64(r.maxKeys) * 3 / 4
	if !full || r.count.Load() <= target {
		return
	}
	for age := 2; age >= 0; age-- {
		for _, k := range byAge[age] {
			if r.count.Load() <= target {
				break
			}
			if v, ok := r.m.Load(k); ok {
				r.drop(k, v.(*Breaker))
			}
		}
	}
}

func (r *Registry[K]) newEpoch(now int64) {
	r.epoch.Add(1)
	r.epochStart = now
	r.epochInsert = 0
}

func (r *Registry[K]) drop(key K, b *Breaker) {
	if r.m.CompareAndDelete(key, b) {
		r.count.Add(-1)
	}
}

// Len returns the number of tracked breakers.
func (r *Registry[K]) Len() int { return int(r.count.Load()) }

// Snapshot returns a snapshot of every tracked breaker, ordered by key.
func (r *Registry[K]) Snapshot() []Snapshot {
	out := make([]Snapshot, 0, r.count.Load())
	r.m.Range(func(_, v any) bool {
		out = append(out, v.(*Breaker).Snapshot())
		return true
	})
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Sync adopts the shared state of key's breaker from the Store (see
// Breaker.Sync).
func (r *Registry[K]) Sync(ctx context.Context, key K) error {
	return r.Get(key).Sync(ctx)
}

func keyString[K comparable](key K) string {
	switch k := any(key).(type) {
	case string:
		return k
	case fmt.Stringer:
		return k.String()
	}
	return fmt.Sprint(key)
}
