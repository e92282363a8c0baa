package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/voxanne/resilience/breaker"
)

func ExampleNew() {
	b := breaker.New(breaker.Settings{ConsecutiveFailures: 2, Cooldown: time.Minute})
	unavailable := errors.New("503 service unavailable")

	for i := range 3 {
		done, err := b.Allow()
		if err != nil {
			var oe *breaker.OpenError
			errors.As(err, &oe)
			fmt.Printf("call %d rejected, retry after %s\n", i, oe.RetryAfter.Round(time.Second))
			continue
		}
		done(unavailable) // report the outcome of the call
		fmt.Printf("call %d failed, breaker %s\n", i, b.State())
	}
	// Output:
	// call 0 failed, breaker closed
	// call 1 failed, breaker open
	// call 2 rejected, retry after 1m0s
}

func ExampleRegistry() {
	// One breaker per clinic: one clinic's outage never blocks another.
	breakers := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1})

	_, err := breaker.Do(breakers.Get("clinic-a"), func() (string, error) {
		return "", errors.New("twilio: 500")
	})
	fmt.Println("clinic-a:", err)

	_, err = breaker.Do(breakers.Get("clinic-a"), func() (string, error) { return "sent", nil })
	fmt.Println("clinic-a:", errors.Is(err, breaker.ErrOpen))

	msg, err := breaker.Do(breakers.Get("clinic-b"), func() (string, error) { return "sent", nil })
	fmt.Println("clinic-b:", msg, err)

	for _, s := range breakers.Snapshot() {
		fmt.Println(s.Key, s.State)
	}
	// Output:
	// clinic-a: twilio: 500
	// clinic-a: true
	// clinic-b: sent <nil>
	// clinic-a open
	// clinic-b closed
}

func ExampleDo() {
	b := breaker.New(breaker.Settings{})
	n, err := breaker.Do(b, func() (int, error) { return 42, nil })
	fmt.Println(n, err)
	// Output: 42 <nil>
}

// Two registries, as two instances of a service would hold, share their
// open circuits through a Store: MemoryStore here, breaker/redisstore
// between processes.
func ExampleStore() {
	store := &breaker.MemoryStore{}
	instanceA := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1, Store: store})
	instanceB := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1, Store: store})

	_, err := breaker.Do(instanceA.Get("clinic-a"), func() (string, error) {
		return "", errors.New("twilio: 500")
	})
	fmt.Println("A:", err)

	// A breaker B creates afterwards starts open.
	_, err = breaker.Do(instanceB.Get("clinic-a"), func() (string, error) { return "sent", nil })
	fmt.Println("B:", errors.Is(err, breaker.ErrOpen))

	// A close (here a Reset; usually a successful probe) reaches B when it
	// syncs the key, as redisstore's Watch does for every change.
	instanceA.Get("clinic-a").Reset()
	_ = instanceB.Sync(context.Background(), "clinic-a")
	fmt.Println("B:", instanceB.Get("clinic-a").State())
	// Output:
	// A: twilio: 500
	// B: true
	// B: closed
}
