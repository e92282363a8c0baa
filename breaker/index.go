package breaker

import (
	"maps"
	"math"
	"sync/atomic"
	"time"
)

// dropped is the seen epoch of a breaker its registry no longer tracks.
const dropped = math.MaxUint32

// publishEvery bounds how long a new key waits to reach the read map.
const publishEvery = int64(time.Second)

// index maps keys to breakers for a Registry. Reads use an immutable map
// loaded atomically: no lock, no allocation, one hash lookup. Writes go to
// a dirty copy, guarded by the registry's mutex, which replaces the read
// map once lookups have missed it a quarter as many times as it has keys,
// or a second after the last replacement: the copies cost O(1) per miss.
type index[K comparable] struct {
	read atomic.Pointer[map[K]*Breaker]

	// Guarded by Registry.mu.
	dirty     map[K]*Breaker // nil while read is current
	misses    int            // lookups that missed read since it was published
	published int64          // when read was published, ns since cfg.base
}

func (x *index[K]) init() {
	m := make(map[K]*Breaker)
	x.read.Store(&m)
}

// current returns the map that holds the present keys. Registry.mu must be
// held; the map must not be modified unless it is x.dirty.
func (x *index[K]) current() map[K]*Breaker {
	if x.dirty != nil {
		return x.dirty
	}
	return *x.read.Load()
}

// writable makes sure there is a dirty map and returns it.
func (x *index[K]) writable() map[K]*Breaker {
	if x.dirty == nil {
		x.dirty = maps.Clone(*x.read.Load())
	}
	return x.dirty
}

// missed counts a lookup that missed the read map and publishes the dirty
// map when it is time.
func (x *index[K]) missed(now int64) {
	x.misses++
	if x.dirty != nil && (4*x.misses >= len(x.dirty) || now-x.published >= publishEvery) {
		m := x.dirty
		x.read.Store(&m)
		x.dirty, x.misses, x.published = nil, 0, now
	}
}
