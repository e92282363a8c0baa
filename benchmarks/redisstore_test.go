package benchmarks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	ours "github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
)

// benchRedis connects to RESILIENCE_TEST_REDIS_URL, or skips.
func benchRedis(b *testing.B) *redis.Client {
	b.Helper()
	u := os.Getenv("RESILIENCE_TEST_REDIS_URL")
	if u == "" {
		b.Skip("set RESILIENCE_TEST_REDIS_URL to benchmark against Redis")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func benchPrefix() string {
	var p [6]byte
	_, _ = rand.Read(p[:])
	return "bench:" + hex.EncodeToString(p[:]) + ":"
}

// watched returns a redisstore.Store on rdb whose Watch runs, with sync,
// until the benchmark ends, once it reaches Redis.
func watched(b *testing.B, rdb *redis.Client, prefix string, sync func(context.Context, string) error) *redisstore.Store {
	b.Helper()
	store := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = store.Watch(ctx, sync); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !store.Stats().Reachable; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the store does not reach Redis")
		}
	}
	return store
}

// BenchmarkRedisStoreClosedSuccess measures one successful call through a
// closed breaker without a store, with a Redis store attached, and through
// sony/gobreaker's DistributedCircuitBreaker on the same Redis.
func BenchmarkRedisStoreClosedSuccess(b *testing.B) {
	rdb := benchRedis(b)
	b.Run("impl=resilience/store=none", func(b *testing.B) {
		allowLoop(b, ours.New(ours.Settings{}))
	})
	b.Run("impl=resilience/store=redis", func(b *testing.B) {
		store := watched(b, rdb, benchPrefix(), func(context.Context, string) error { return nil })
		allowLoop(b, ours.New(ours.Settings{Store: store}))
	})
	b.Run("impl=gobreaker/store=redis", func(b *testing.B) {
		shared := &gobreakerRedis{rdb: rdb, prefix: benchPrefix()}
		b.Cleanup(func() { rdb.Del(context.Background(), shared.prefix+"gobreaker:state:bench") })
		cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](shared, gobreaker.Settings{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(ok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisStorePropagation measures how long an open circuit takes to
// reach another instance: from the failed call that trips it on one
// registry to the transition of the other registry's breaker for the key.
// Run it with -benchtime 1000x for 1,000 trips.
func BenchmarkRedisStorePropagation(b *testing.B) {
	rdb := benchRedis(b)
	prefix := benchPrefix()
	type heard struct {
		key string
		at  time.Time
	}
	heardCh := make(chan heard, 16)
	s := ours.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute}
	s.Store = watched(b, rdb, prefix, func(context.Context, string) error { return nil })
	a := ours.NewRegistry[string](s)
	other := redis.NewClient(rdb.Options())
	b.Cleanup(func() { _ = other.Close() })
	s.OnStateChange = func(t ours.Transition) {
		if t.To == ours.Open {
			heardCh <- heard{t.Key, time.Now()}
		}
	}
	var reg *ours.Registry[string]
	s.Store = watched(b, other, prefix, func(ctx context.Context, key string) error { return reg.Sync(ctx, key) })
	reg = ours.NewRegistry[string](s)

	failed := errors.New("vendor down")
	var delays []time.Duration
	i := 0
	for b.Loop() {
		key := "clinic-" + strconv.Itoa(i)
		i++
		reg.Get(key) // the other instance uses the key too
		start := time.Now()
		done, err := a.Get(key).Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(failed)
		select {
		case h := <-heardCh:
			if h.key != key {
				b.Fatalf("heard %q, want %q", h.key, key)
			}
			delays = append(delays, h.at.Sub(start))
		case <-time.After(time.Second):
			b.Fatalf("%s not heard within a second", key)
		}
	}
	slices.Sort(delays)
	pct := func(p float64) float64 {
		return float64(delays[int(p*float64(len(delays)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// gobreakerRedis is a minimal gobreaker.SharedDataStore on Redis: a lock
// (SET NX PX, released only by its holder) and a value per name.
type gobreakerRedis struct {
	rdb    *redis.Client
	prefix string
	token  string
}

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (s *gobreakerRedis) Lock(name string) error {
	if s.token == "" {
		s.token = benchPrefix()
	}
	ok, err := s.rdb.SetNX(context.Background(), s.prefix+name, s.token, 5*time.Second).Result()
	if err == nil && !ok {
		err = errors.New("locked")
	}
	return err
}

func (s *gobreakerRedis) Unlock(name string) error {
	return unlockScript.Run(context.Background(), s.rdb, []string{s.prefix + name}, s.token).Err()
}

func (s *gobreakerRedis) GetData(name string) ([]byte, error) {
	data, err := s.rdb.Get(context.Background(), s.prefix+name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return data, err
}

func (s *gobreakerRedis) SetData(name string, data []byte) error {
	return s.rdb.Set(context.Background(), s.prefix+name, data, time.Hour).Err()
}
