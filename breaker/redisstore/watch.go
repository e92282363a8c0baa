package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errNoPong ends a subscription whose connection stopped answering.
var errNoPong = errors.New("redisstore: no answer to ping")

// Watch runs the Store until ctx ends, then returns ctx's error, once its
// Redis commands in flight have ended (within the client's timeouts). It
// writes what Publish queued and keeps the mirror that OpenUntil reads: on each
// (re)connection it subscribes to the Store's channel and reads every open
// key (SCAN), then applies each change other instances announce. It calls
// syncKey for each key whose shared state another instance changed. While
// Redis cannot be reached it retries with a growing pause; the breakers
// keep their local state meanwhile, and the health Check says so.
//
// Wire it with a Registry[string]:
//
//	go store.Watch(ctx, registry.Sync)
//
// Only one Watch of a Store may run at a time (ErrWatching).
func (s *Store) Watch(ctx context.Context, syncKey func(ctx context.Context, key string) error) error {
	if !s.watching.CompareAndSwap(false, true) {
		return ErrWatching
	}
	defer s.watching.Store(false)
	var wg sync.WaitGroup
	wg.Go(func() { s.publishLoop(ctx, syncKey) })
	s.subscribeLoop(ctx, syncKey)
	wg.Wait()
	return ctx.Err()
}

func (s *Store) subscribeLoop(ctx context.Context, syncKey func(context.Context, string) error) {
	backoff := time.Duration(0)
	for {
		err := s.session(ctx, syncKey, func() { backoff = 0 })
		if ctx.Err() != nil {
			return
		}
		s.failed(subscriber, err)
		backoff = longer(backoff)
		if !pause(ctx, backoff) {
			return
		}
	}
}

// session subscribes, catches up and applies announcements until the
// connection fails or ctx ends. It calls connected once caught up.
func (s *Store) session(ctx context.Context, syncKey func(context.Context, string) error, connected func()) error {
	ps := s.rdb.Subscribe(ctx, s.channel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // ends a blocked Receive
	defer stop()
	pinged := false
	pruned := time.Now()
	for {
		if time.Since(pruned) >= time.Minute {
			s.prune()
			pruned = time.Now()
		}
		msg, err := ps.ReceiveTimeout(ctx, s.pingEvery)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return err
			}
			if pinged {
				return errNoPong
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if err := s.catchUp(ctx, syncKey); err != nil {
				return err
			}
			s.succeeded(subscriber)
			connected()
		case *redis.Message:
			from, e, ok := parseMessage(m.Payload)
			if !ok {
				continue
			}
			s.apply(e)
			if from != s.id {
				_ = syncKey(ctx, e.key) // nothing to retry: the next change or catch-up syncs again
			}
		}
	}
}

// apply records one announced change in the mirror.
func (s *Store) apply(e entry) {
	s.mirrorMu.Lock()
	defer s.mirrorMu.Unlock()
	if e.open {
		s.mirror[e.key] = e.until
	} else {
		delete(s.mirror, e.key)
	}
}

// catchUp reads every open key from Redis into the mirror and syncs the
// keys that changed while the store was not listening: opened, or closed
// before their open period ended.
func (s *Store) catchUp(ctx context.Context, syncKey func(context.Context, string) error) error {
	found, server, err := s.readOpen(ctx)
	if err != nil {
		return err
	}
	// A key that vanished before its period ended was closed meanwhile,
	// unless Redis restarted (or failed over) and lost it: then the key
	// stays open here until its period ends.
	restarted := s.server != "" && server != s.server
	s.server = server
	now := time.Now().UnixMilli()
	var changed []string
	s.mirrorMu.Lock()
	for k, old := range s.mirror {
		if _, open := found[k]; !open && old > now && !restarted {
			delete(s.mirror, k)
			changed = append(changed, k)
		}
	}
	for k, u := range found {
		if old, ok := s.mirror[k]; !ok || old != u {
			s.mirror[k] = u
			changed = append(changed, k)
		}
	}
	s.mirrorMu.Unlock()
	for _, k := range changed {
		if err := syncKey(ctx, k); err != nil && ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// readOpen returns the open keys in Redis (on every master of a cluster)
// with the ends of their open periods, and the run ids of the servers.
func (s *Store) readOpen(ctx context.Context) (found map[string]int64, server string, err error) {
	found = make(map[string]int64)
	var ids []string
	var mu sync.Mutex
	read := func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		ids = append(ids, runID(info))
		mu.Unlock()
		iter := c.Scan(ctx, 0, s.pattern, batchSize).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		for len(keys) > 0 {
			n := min(len(keys), batchSize)
			pipe := c.Pipeline()
			gets := make([]*redis.StringCmd, n)
			for i, k := range keys[:n] {
				gets[i] = pipe.Get(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			mu.Lock()
			for i, k := range keys[:n] {
				if u, ok := openEnd(gets[i].Val()); ok {
					found[strings.TrimPrefix(k, s.prefix)] = u
				}
			}
			mu.Unlock()
			keys = keys[n:]
		}
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return read(ctx, c) })
	} else {
		err = read(ctx, s.rdb)
	}
	slices.Sort(ids)
	return found, strings.Join(ids, ","), err
}

// openEnd reads the value of a key: the end of its open period, or false
// for a close ("c AT") and anything this package did not write. A value
// without AT, as versions before the stamp wrote, reads the same.
func openEnd(v string) (int64, bool) {
	end, _, _ := strings.Cut(v, " ")
	u, err := strconv.ParseInt(end, 10, 64)
	return u, err == nil && u > 0
}

// runID returns the run_id line of INFO server: it changes when the
// server restarts.
func runID(info string) string {
	for line := range strings.Lines(info) {
		if id, ok := strings.CutPrefix(line, "run_id:"); ok {
			return strings.TrimSpace(id)
		}
	}
	return ""
}

// prune forgets open periods that ended more than a minute ago.
func (s *Store) prune() {
	old := time.Now().Add(-time.Minute).UnixMilli()
	s.mirrorMu.Lock()
	defer s.mirrorMu.Unlock()
	for k, u := range s.mirror {
		if u < old {
			delete(s.mirror, k)
		}
	}
}

// globEscape escapes the characters SCAN's MATCH gives a meaning.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func instanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}
