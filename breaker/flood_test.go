package breaker

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flood of new keys between Allow and done drops the tenant's breaker
// (closed, no failure on record yet) while its call is in flight. The late
// failure must still reach the breaker the registry now holds for the key,
// or a failing tenant never trips.
func TestRegistryKeyFloodDuringCallStillTrips(t *testing.T) {
	tests := []struct {
		name     string
		settings Settings
	}{
		{"consecutive failures", Settings{}},
		{"failure ratio", Settings{ConsecutiveFailures: -1, FailureRatio: 0.5, Window: 4, MinCalls: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxKeys = 1000
			r := NewRegistry[string](tt.settings, WithMaxKeys(maxKeys))
			for i := range maxKeys {
				r.Get("filler-" + strconv.Itoa(i))
			}
			next := 0
			flood := func() {
				for range maxKeys {
					r.Get("flood-" + strconv.Itoa(next))
					next++
				}
			}
			calls := 0
			for range 30 {
				done, err := r.Get("tenant").Allow()
				if err != nil {
					require.ErrorIs(t, err, ErrOpen)
					break
				}
				calls++
				flood()
				done(errBoom)
			}
			assert.Equal(t, Open, r.Get("tenant").State(), "the failing tenant trips")
			assert.Equal(t, 3, calls, "after three failed calls")
		})
	}
}

// The same with the flood running concurrently with the calls, so that
// done races with the drops: no failure is lost whichever goes first.
func TestRegistryConcurrentKeyFloodStillTrips(t *testing.T) {
	for round := range 10 {
		const maxKeys = 64
		r := NewRegistry[int](Settings{}, WithMaxKeys(maxKeys))
		var inserted atomic.Int64
		stop := make(chan struct{})
		flooded := make(chan struct{})
		go func() {
			defer close(flooded)
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
					r.Get(i)
					inserted.Store(int64(i))
				}
			}
		}()
		calls := 0
		for range 30 {
			done, err := r.Get(0).Allow()
			if err != nil {
				break
			}
			calls++
			for from := inserted.Load(); inserted.Load() < from+2*maxKeys; {
				runtime.Gosched()
			}
			done(errBoom)
		}
		close(stop)
		<-flooded
		require.Equal(t, Open, r.Get(0).State(), "round %d", round)
		require.Equal(t, 3, calls, "round %d", round)
	}
}
