package redisstore_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
	"github.com/voxanne/resilience/health"
)

// Every instance of a service shares its open circuits through one Redis.
// (Not run: it needs a Redis server.)
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	store := redisstore.New(rdb, redisstore.WithPrefix("sms-breakers:"), redisstore.WithLogger(logger))
	breakers := breaker.NewRegistry[string](breaker.Settings{Store: store})
	go store.Watch(ctx, breakers.Sync) // publishes, listens, catches up; stops with ctx

	// The integrations endpoint says when breakers run instance-local.
	checks := health.New([]health.Check{store.Check("Circuit breaker store")})
	_ = checks

	done, err := breakers.Get("clinic-42").Allow()
	if err != nil {
		return // open here or on another instance
	}
	done(nil)
}
