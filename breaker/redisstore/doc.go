// Package redisstore shares the open circuits of breaker registries
// between the instances of a service through Redis, so that when one
// instance finds a tenant's dependency down, every instance stops calling
// it within a second, and when one instance's probe finds it back, every
// instance closes.
//
// Wiring, for a breaker.Registry[string]:
//
//	store := redisstore.New(rdb, redisstore.WithLogger(logger))
//	breakers := breaker.NewRegistry[string](breaker.Settings{Store: store})
//	go store.Watch(ctx, breakers.Sync)
//
// # What is shared
//
// The open period of each key (until when it rejects) and the close that
// ends it early: a Redis key per open circuit, PREFIX+key, whose value is
// the end of the period in Unix milliseconds (then, after a space, when
// the open was published) and which expires then (PXAT), so Redis keeps no
// dead circuits. A close leaves "c" and its time, forgotten after an hour.
// Every change is announced on one channel, PREFIX+"changes", by the same
// Lua script that writes the key, so that all instances hear the changes of
// a key in the order Redis made them.
//
// The later change wins, by when it was published, not when it reached
// Redis: an open that an instance queued while Redis was out of its reach,
// written after an operator's reset on another instance, is refused (and
// counted in Stats.Superseded), and its instance takes on the reset; so
// is a close queued before another instance's trip. Instances' clocks are
// compared, so keep them in sync (NTP) for this to hold to the
// millisecond; and a close is remembered for an hour, so an open period
// longer than that (a MaxCooldown over an hour) can outlive it.
//
// Failure counts, failure-ratio windows, half-open probes and cooldown
// doubling stay local to each instance, and a closed breaker's success
// path never touches Redis: a tenant that is closed everywhere costs Redis
// nothing.
//
// # Why pub/sub and a local mirror
//
// Store.Watch subscribes to the channel and keeps a mirror of the open keys
// in memory: Store.OpenUntil, which a registry asks when it creates a
// breaker, is a map read, so a breaker created after its key opened
// elsewhere starts open without a round trip. Keyspace notifications were
// the alternative; they need notify-keyspace-events set on the server (off
// by default and often locked on managed Redis), carry no value (each event
// would cost a GET) and, like pub/sub, are lost while disconnected. Either
// way a subscriber must catch up after a disconnection, so Watch reads
// every open key (SCAN) each time it (re)subscribes, before it applies the
// announcements queued meanwhile.
//
// # When Redis is down, slow or flapping
//
// Breakers keep working on local state: Publish only queues (one entry per
// key, the latest; a new key that finds the queue full is dropped and
// counted) and Watch writes the queue from its own goroutine, retrying
// with a pause that grows to two seconds. The first failure of an outage
// is logged and the others only counted (Stats); Store.Check reports the
// store Degraded, "circuit breakers run instance-local", until Redis
// answers again. Then the queued transitions are written, the mirror is
// read again and the instances converge without a restart. A Redis that
// restarted empty (or failed over) has forgotten the open circuits:
// instances that knew them keep them until they end.
//
// Redis 6.2 or later (PXAT) is needed, with a policy that does not evict
// keys that have an expiry (noeviction or an allkeys policy): an evicted
// key would read as a close. A *redis.Ring is not supported: it shards
// pub/sub away from the keys.
package redisstore
