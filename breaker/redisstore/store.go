package redisstore

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/breaker"
)

// Store is a breaker.Store on Redis. It is safe for concurrent use; Watch
// must be running for it to publish and to hear other instances.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	channel   string
	pattern   string // SCAN pattern of the keys under prefix
	id        string // tells this store's messages from other instances'
	log       *slog.Logger
	queueSize int
	pingEvery time.Duration
	script    *redis.Script // publishLua

	mu      sync.Mutex
	pending map[string]update // coalesced per key, waiting for Watch
	writing []entry           // taken from pending, being written
	wake    chan struct{}     // capacity 1: something was queued

	mirrorMu sync.RWMutex
	mirror   map[string]int64 // key -> end of its open period, Unix ms
	server   string           // run ids of the Redis servers at the last catch-up; Watch's only

	watching   atomic.Bool
	published  atomic.Int64
	superseded atomic.Int64
	dropped    atomic.Int64
	errs       atomic.Int64

	link link
}

// update is what is to be written for one key.
type update struct {
	open  bool
	until int64 // Unix ms; open only
	at    int64 // Unix ms: when it was published, which orders it in Redis
}

var _ breaker.Store = (*Store)(nil)

// ErrWatching is returned by Watch when another Watch of the same Store is
// running.
var ErrWatching = errors.New("redisstore: Watch is already running")

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of the Redis keys and of the pub/sub channel
// (default "breaker:"), so that two services, or two registries, share one
// Redis without sharing circuits.
func WithPrefix(p string) Option {
	return func(s *Store) { s.prefix = p }
}

// WithLogger sets the logger that reports when Redis becomes unreachable
// and reachable again: once per outage, not per call. Nil (the default)
// logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// WithQueueSize bounds how many keys may wait to be published (default
// 10,000). Transitions of one key replace each other in the queue; a new
// key that finds it full is dropped and counted (see Stats).
func WithQueueSize(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.queueSize = n
		}
	}
}

// WithHealthCheckInterval sets how long the subscription may stay silent
// before Watch pings Redis (default 5s). A ping unanswered for as long
// again ends the connection and counts as an outage: a connection that
// died without being closed (a network partition) is noticed within twice
// the interval.
func WithHealthCheckInterval(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.pingEvery = d
		}
	}
}

// New returns a Store that shares open circuits through rdb: a
// *redis.Client (standalone, or Sentinel failover) or a
// *redis.ClusterClient, on Redis 6.2 or later. It starts no goroutine:
// run Watch.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		rdb:       rdb,
		prefix:    "breaker:",
		id:        instanceID(),
		queueSize: 10_000,
		pingEvery: 5 * time.Second,
		pending:   make(map[string]update),
		wake:      make(chan struct{}, 1),
		mirror:    make(map[string]int64),
		script:    redis.NewScript(publishLua),
	}
	for _, o := range opts {
		o(s)
	}
	s.channel = s.prefix + "changes"
	s.pattern = globEscape(s.prefix) + "*"
	return s
}

// Publish queues t for Watch to write to Redis and returns at once. Only
// changes to Open (until openUntil) and to Closed are shared.
func (s *Store) Publish(t breaker.Transition, openUntil time.Time) {
	// Stamped with this process's clock, not t.At: a breaker's clock may
	// be a test's, and Redis orders the changes of instances by the stamp.
	u := update{at: time.Now().UnixMilli()}
	switch t.To {
	case breaker.Open:
		u.open, u.until = true, openUntil.UnixMilli()
	case breaker.Closed:
	default:
		return
	}
	s.mu.Lock()
	if _, queued := s.pending[t.Key]; !queued && len(s.pending) >= s.queueSize {
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	s.pending[t.Key] = u
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// OpenUntil returns when the open period of key last seen in Redis ends,
// or the zero time if key is not open there. It reads a local mirror that
// Watch keeps: no round trip.
func (s *Store) OpenUntil(key string) time.Time {
	s.mirrorMu.RLock()
	u, ok := s.mirror[key]
	s.mirrorMu.RUnlock()
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(u)
}

// Stats counts what the Store did since it was created.
type Stats struct {
	Queued    int   // keys waiting to be published (or being written)
	Published int64 // transitions written to Redis
	// Superseded counts transitions Redis refused because a later one of
	// the same key, from another instance, was already there: an open
	// queued before an operator's reset and written after it, say.
	Superseded int64
	Dropped    int64 // transitions dropped because the queue was full
	Errors     int64 // failed Redis operations
	Open       int   // keys open in the local mirror of Redis
	Reachable  bool  // Watch is running and reaches Redis
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	queued := len(s.pending)
	for _, e := range s.writing {
		if _, ok := s.pending[e.key]; !ok {
			queued++
		}
	}
	s.mu.Unlock()
	s.mirrorMu.RLock()
	open := 0
	now := time.Now().UnixMilli()
	for _, u := range s.mirror {
		if u > now {
			open++
		}
	}
	s.mirrorMu.RUnlock()
	return Stats{
		Queued:     queued,
		Published:  s.published.Load(),
		Superseded: s.superseded.Load(),
		Dropped:    s.dropped.Load(),
		Errors:     s.errs.Load(),
		Open:       open,
		Reachable:  s.watching.Load() && s.link.up(),
	}
}
