package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/voxanne/resilience/health"
)

// The parts of a Store that talk to Redis.
const (
	publisher = iota
	subscriber
	parts
)

// link tracks whether the Store reaches Redis.
type link struct {
	mu        sync.Mutex
	connected bool        // the subscriber caught up at least once
	down      [parts]bool // the last attempt of the part failed
	since     time.Time   // when the present outage began
	dropped   int64       // Store.dropped when it began
}

func (l *link) up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected && !l.down[publisher] && !l.down[subscriber]
}

// failed records a failed Redis operation of part. The first failure of an
// outage is logged; the others are only counted.
func (s *Store) failed(part int, err error) {
	s.errs.Add(1)
	l := &s.link
	l.mu.Lock()
	begins := !l.down[publisher] && !l.down[subscriber]
	l.down[part] = true
	if begins {
		l.since, l.dropped = time.Now(), s.dropped.Load()
	}
	l.mu.Unlock()
	if begins && s.log != nil {
		s.log.Warn("redisstore: cannot reach Redis; circuit breakers run instance-local until it is back",
			"err", err)
	}
}

// succeeded records a successful Redis operation of part, and logs the
// end of an outage.
func (s *Store) succeeded(part int) {
	l := &s.link
	l.mu.Lock()
	if part == subscriber {
		l.connected = true
	}
	wasDown := l.down[publisher] || l.down[subscriber]
	l.down[part] = false
	ends := wasDown && !l.down[publisher] && !l.down[subscriber]
	since, dropped := l.since, s.dropped.Load()-l.dropped
	l.mu.Unlock()
	if ends && s.log != nil {
		s.log.Info("redisstore: Redis reachable again; circuit breakers share state",
			"after", time.Since(since).Round(time.Millisecond), "dropped", dropped)
	}
}

// Check returns a health check named name that is Healthy while the Store
// shares circuit state through Redis and Degraded while it cannot (Watch
// not running, not connected yet, or Redis unreachable): the breakers
// still protect each instance, but an open circuit is not seen by the
// others. It makes no network call. Details: open, queued, published,
// superseded, dropped, errors and, during an outage, downSince.
func (s *Store) Check(name string) health.Check {
	return health.Check{
		Name: name,
		Func: func(context.Context) health.Result { return s.result() },
	}
}

func (s *Store) result() health.Result {
	st := s.Stats()
	r := health.Result{
		Status: health.Healthy,
		Details: map[string]any{
			"open":       st.Open,
			"queued":     st.Queued,
			"published":  st.Published,
			"superseded": st.Superseded,
			"dropped":    st.Dropped,
			"errors":     st.Errors,
		},
	}
	const local = "circuit breakers run instance-local"
	l := &s.link
	l.mu.Lock()
	connected, down, since := l.connected, l.down[publisher] || l.down[subscriber], l.since
	l.mu.Unlock()
	switch {
	case !s.watching.Load():
		r.Status = health.Degraded
		r.Message = "not watching Redis (Store.Watch is not running): " + local
		r.Recommendation = "Run the circuit breaker store's Watch for the life of the service."
	case down:
		r.Status = health.Degraded
		r.Message = fmt.Sprintf("cannot reach Redis for %s: %s", time.Since(since).Round(time.Second), local)
		r.Details["downSince"] = since.UTC().Format(time.RFC3339)
		r.Recommendation = "Check Redis and the network to it; each instance keeps protecting itself meanwhile."
	case !connected:
		r.Status = health.Degraded
		r.Message = "connecting to Redis: " + local
	default:
		r.Message = fmt.Sprintf("sharing circuit state through Redis (%d open)", st.Open)
	}
	return r
}
