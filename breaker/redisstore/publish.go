package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	batchSize    = 256             // transitions per round trip
	writeTimeout = 2 * time.Second // bounds one round trip
	minBackoff   = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// publishLua records one transition and announces it, atomically, so that
// every subscriber hears the changes of a key in the order Redis made
// them. KEYS[1] is the key; ARGV[1] the end of the open period in Unix ms,
// or "" for a close; ARGV[2] the channel; ARGV[3] the message; ARGV[4]
// when the transition was published (Unix ms); ARGV[5] how long a close is
// remembered (ms).
//
// An open key holds "END AT" and expires when its period ends (PXAT), so
// Redis keeps no dead circuits; a closed one holds "c AT" for ARGV[5]. A
// transition older than the one the key holds was overtaken by it (a
// reset, then an open queued before it that arrives later): it is refused
// and announced to nobody, and the script returns -1. Otherwise it returns
// the number of subscribers that heard it.
const publishLua = `
local at = tonumber(ARGV[4])
local cur = redis.call("GET", KEYS[1])
if cur then
	local last = tonumber(string.match(cur, " (%d+)$"))
	if last and at < last then
		return -1
	end
end
if ARGV[1] == "" then
	redis.call("SET", KEYS[1], "c " .. ARGV[4], "PX", ARGV[5])
else
	redis.call("SET", KEYS[1], ARGV[1] .. " " .. ARGV[4], "PXAT", ARGV[1])
end
return redis.call("PUBLISH", ARGV[2], ARGV[3])
`

// closeMemory is how long Redis remembers a close, so that an open that
// started before it and arrives later finds it and is refused: longer
// than open periods last (Settings.Cooldown defaults to 30s, and a
// MaxCooldown beyond an hour would outlive it).
const closeMemory = time.Hour

// entry is one queued update of key.
type entry struct {
	key string
	update
}

// publishLoop writes queued transitions to Redis until ctx ends. After a
// failure it keeps them queued and retries with a growing pause. A key
// whose transition Redis refused (a later one was there) is synced with
// syncKey: its breaker takes on the later transition, which the mirror
// has from its announcement or from the catch-up (which syncs again if
// it comes after).
func (s *Store) publishLoop(ctx context.Context, syncKey func(context.Context, string) error) {
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			if !pause(ctx, backoff) {
				return
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
		}
		if err := s.flush(ctx, syncKey); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.failed(publisher, err)
			backoff = longer(backoff)
			continue
		}
		s.succeeded(publisher)
		backoff = 0
	}
}

// longer returns the pause after another failure, following backoff.
func longer(backoff time.Duration) time.Duration {
	return min(max(2*backoff, minBackoff), maxBackoff)
}

// pause waits for d and reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// flush writes everything queued, a batch per round trip.
func (s *Store) flush(ctx context.Context, syncKey func(context.Context, string) error) error {
	for {
		batch := s.take()
		if len(batch) == 0 {
			return nil
		}
		refused, err := s.write(ctx, batch)
		for _, k := range refused {
			_ = syncKey(ctx, k) // as for an announcement: the next change or catch-up syncs again
		}
		s.mu.Lock()
		s.writing = nil
		if err != nil {
			for _, e := range batch {
				if _, newer := s.pending[e.key]; !newer {
					s.pending[e.key] = e.update
				}
			}
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// take removes up to batchSize entries from the queue, to be written. If
// the write fails, flush queues again those whose keys have not changed
// since.
func (s *Store) take() []entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := make([]entry, 0, min(len(s.pending), batchSize))
	for k, u := range s.pending {
		if len(batch) == batchSize {
			break
		}
		batch = append(batch, entry{k, u})
		delete(s.pending, k)
	}
	s.writing = batch
	return batch
}

// write records batch in Redis in one round trip. Open periods that have
// ended meanwhile are skipped: there is nothing left to share. It returns
// the keys whose transitions Redis refused.
func (s *Store) write(ctx context.Context, batch []entry) (refused []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	now := time.Now().UnixMilli()
	memory := strconv.FormatInt(closeMemory.Milliseconds(), 10)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, 0, len(batch))
	keys := make([]string, 0, len(batch))
	for _, e := range batch {
		until := ""
		if e.open {
			if e.until <= now {
				continue
			}
			until = strconv.FormatInt(e.until, 10)
		}
		cmds = append(cmds, s.script.Eval(ctx, pipe, []string{s.prefix + e.key},
			until, s.channel, s.message(e), strconv.FormatInt(e.at, 10), memory))
		keys = append(keys, e.key)
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	for i, c := range cmds {
		if n, err := c.Int64(); err == nil && n == -1 { // the script's refusal; PUBLISH counts from 0
			s.superseded.Add(1)
			refused = append(refused, keys[i])
			continue
		}
		s.published.Add(1)
	}
	return refused, nil
}

// A message is "<instance id> <o|c> <until, Unix ms> <key>": the key last,
// as it may contain spaces.
func (s *Store) message(e entry) string {
	kind, until := "c", "0"
	if e.open {
		kind, until = "o", strconv.FormatInt(e.until, 10)
	}
	return s.id + " " + kind + " " + until + " " + e.key
}

// parseMessage reads a message; ok is false for one this package did not
// write.
func parseMessage(m string) (from string, e entry, ok bool) {
	parts := strings.SplitN(m, " ", 4)
	if len(parts) != 4 || (parts[1] != "o" && parts[1] != "c") {
		return "", entry{}, false
	}
	until, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || parts[1] == "o" && until <= 0 { // an open period ends after 1970
		return "", entry{}, false
	}
	e = entry{key: parts[3], update: update{open: parts[1] == "o"}}
	if e.open {
		e.until = until
	}
	return parts[0], e, true
}
