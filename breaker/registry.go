package breaker

import (
	"context"
	"fmt"
	"maps"
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
// record are dropped (such a breaker behaves like a new one; a failure-ratio
// window forgets its successes, which can only make it trip sooner), when
// idle for the idle TTL or, least recently used first, when the registry
// reaches its maximum size (then also when not used during the last
// quarter-maximum of new keys). Open and half-open breakers are never dropped,
// so a flood of new keys cannot wipe out protection; when too few breakers
// can be dropped the registry goes past its maximum by the one new key, and
// until its next full scan makes room by dropping the keys added since. A
// call admitted by a breaker that is dropped while the call runs still
// counts: its failure goes to the breaker that holds the key by then.
type Registry[K comparable] struct {
	cfg     *config
	maxKeys int
	idleTTL time.Duration

	idx   index[K]
	count atomic.Int64  // breakers tracked
	epoch atomic.Uint32 // advances every idleTTL/2; breakers remember the epoch of their last Get

	mu          sync.Mutex // serialises inserts and sweeps
	epochStart  int64      // ns since cfg.base
	epochInsert int        // inserts in this epoch
	lastSweep   int64
	// crowded: the last scan could not bring the registry under maxKeys
	// (too many open or failing breakers). Until the next scan, which waits
	// for scanWait more sweeps, a full registry drops the keys inserted
	// since (fresh, oldest first) rather than scan again on every insert.
	crowded  bool
	fresh    []K
	scanWait int
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
	r.idx.init()
	r.epoch.Store(1)
	return r
}

// Get returns the breaker for key, creating it if needed. Getting an
// existing breaker takes no lock, reads no clock and does not allocate.
func (r *Registry[K]) Get(key K) *Breaker {
	if b, ok := (*r.idx.read.Load())[key]; ok {
		if s, e := b.seen.Load(), r.epoch.Load(); s != e {
			if s == dropped || !b.seen.CompareAndSwap(s, e) {
				return r.getSlow(key)
			}
		}
		return b
	}
	return r.getSlow(key)
}

// getSlow is Get for a key missing from the read map or a breaker whose
// epoch must be updated.
func (r *Registry[K]) getSlow(key K) *Breaker {
	b, adopted := r.insert(key)
	if adopted {
		b.report()
	}
	return b
}

// insert returns key's breaker, creating it if needed; adopted says that
// the new breaker took an open state from the Store, which the caller must
// report (b.report, with no lock held).
func (r *Registry[K]) insert(key K) (b *Breaker, adopted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, now := r.cfg.clock()
	defer r.idx.missed(now) // runs before the unlock
	if b, ok := r.idx.current()[key]; ok {
		b.seen.Store(r.epoch.Load())
		return b, false
	}
	// An epoch ends after idleTTL/2, or after maxKeys/8 inserts so that a
	// full registry can tell the least recently used breakers apart. Only
	// inserts end epochs: when the current one began at least idleTTL ago,
	// a breaker last seen in an earlier epoch has been idle that long, so
	// skip an epoch to make it count as idle.
	half := max(int64(r.idleTTL/2), 1)
	r.epochInsert++
	if elapsed := now - r.epochStart; elapsed >= 2*half {
		r.newEpoch(now, 2)
	} else if elapsed >= half || r.epochInsert > r.maxKeys/8 {
		r.newEpoch(now, 1)
	}
	if r.count.Load() >= int64(r.maxKeys) || now-r.lastSweep >= half {
		r.sweep(now, half)
	}
	b, adopted = newBreaker(keyString(key), r.cfg)
	b.seen.Store(r.epoch.Load())
	r.idx.writable()[key] = b
	r.count.Add(1)
	if r.crowded {
		r.fresh = append(r.fresh, key)
	}
	return b, adopted
}

// sweep drops idle breakers and, when the registry is full, the least
// recently used evictable ones. r.mu must be held.
func (r *Registry[K]) sweep(now, half int64) {
	if r.crowded && r.scanWait > 0 && now-r.lastSweep < half {
		r.scanWait--
		for len(r.fresh) > 0 && r.count.Load() >= int64(r.maxKeys) {
			k := r.fresh[0]
			r.fresh = r.fresh[1:]
			if b, ok := r.idx.current()[k]; ok {
				r.drop(k, b)
			}
		}
		return
	}
	r.shrink(r.scan(now))
	r.crowded = r.count.Load() >= int64(r.maxKeys)
	r.fresh = nil
	r.scanWait = r.maxKeys / 8
}

// scan drops idle breakers and, if the registry is full, returns the other
// evictable ones by age in epochs (0, 1 or 2). r.mu must be held.
func (r *Registry[K]) scan(now int64) (byAge [3][]K) {
	r.lastSweep = now
	cur := r.epoch.Load()
	full := r.count.Load() >= int64(r.maxKeys)
	// Ranging over the current map while drop deletes from it is fine:
	// either it is the dirty map (deleting during range is allowed) or the
	// read map, which drop does not modify.
	for k, b := range r.idx.current() {
		if !b.evictable() {
			continue
		}
		// Idle: not used in this epoch nor in the two before, so for at
		// least idleTTL (an epoch lasts idleTTL/2), or during the last
		// quarter of maxKeys inserts at least.
		age := cur - b.seen.Load()
		if age >= 3 {
			r.drop(k, b)
		} else if full {
			byAge[age] = append(byAge[age], k)
		}
	}
	return byAge
}

// shrink drops the least recently used of the candidates found by scan
// until the registry is 3/4 full. r.mu must be held.
func (r *Registry[K]) shrink(byAge [3][]K) {
	target := int64(r.maxKeys) * 3 / 4
	for age := 2; age >= 0; age-- {
		for _, k := range byAge[age] {
			if r.count.Load() <= target {
				return
			}
			if b, ok := r.idx.current()[k]; ok {
				r.drop(k, b)
			}
		}
	}
}

func (r *Registry[K]) newEpoch(now int64, n uint32) {
	if r.epoch.Add(n) == dropped {
		r.epoch.Add(1) // epochs wrap around (ages are computed modulo 2^32) but skip dropped
	}
	r.epochStart = now
	r.epochInsert = 0
}

// drop removes key's breaker b if it is still evictable. Holding b.mu
// keeps b from tripping between the check and the removal (a breaker
// found evictable by scan may have failed since). r.mu must be held.
//
// A call admitted by b may still be running. Its failure, if it fails,
// must reach the breaker that holds the key next, or a flood of new keys
// could keep a failing tenant from ever tripping. b is marked dropped
// before it is checked, and closedDone counts a failure before it looks
// for the mark: so either the check sees the failure and keeps b, or the
// failure sees the mark and is forwarded (through b.cold.live). Both may
// happen; then b is kept and, holding b.mu, closedDone finds no live.
func (r *Registry[K]) drop(key K, b *Breaker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := r.idx.writable()
	if m[key] != b {
		return
	}
	seen := b.seen.Swap(dropped)
	if !b.evictableLocked() {
		b.seen.CompareAndSwap(dropped, seen)
		return
	}
	delete(m, key)
	r.count.Add(-1)
	b.coldFields().live = func() *Breaker { return r.Get(key) }
}

// Len returns the number of tracked breakers.
func (r *Registry[K]) Len() int { return int(r.count.Load()) }

// Snapshot returns a snapshot of every tracked breaker, ordered by key.
func (r *Registry[K]) Snapshot() []Snapshot {
	r.mu.Lock()
	tracked := slices.Collect(maps.Values(r.idx.current()))
	r.mu.Unlock()
	out := make([]Snapshot, len(tracked))
	for i, b := range tracked {
		out[i] = b.Snapshot()
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Sync adopts the shared state of key's breaker from the Store (see
// Breaker.Sync). A key the registry does not track is left alone: its
// breaker adopts the shared state when Get creates it.
func (r *Registry[K]) Sync(ctx context.Context, key K) error {
	b := r.lookup(key)
	if b == nil {
		return ctx.Err()
	}
	return b.Sync(ctx)
}

// lookup returns key's breaker, or nil if the registry does not track it.
func (r *Registry[K]) lookup(key K) *Breaker {
	if b, ok := (*r.idx.read.Load())[key]; ok && b.seen.Load() != dropped {
		return b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idx.current()[key]
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
