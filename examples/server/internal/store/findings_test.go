package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/store"
)

// Found by the chaos run (examples/server/chaos, PostgreSQL): a booking
// sent twice at once, with one Idempotency-Key, was answered 409 "That
// time is already taken" on one of the copies. On PostgreSQL the second
// INSERT of the key can fail on the slot's unique index (taken by the
// first copy's row) rather than on the key's, which ON CONFLICT ignores.
// The copies of one key must all get the one appointment.
func TestConcurrentClaimsOfOneKeyNeverFindTheirSlotTaken(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		for round := range 20 {
			start := nine.Add(time.Duration(round) * time.Hour)
			a := store.Appointment{OrgID: "o", Key: fmt.Sprintf("k%d", round), Fingerprint: "fp", Start: start,
				End: start.Add(30 * time.Minute), Patient: "P"}
			var wg sync.WaitGroup
			var mu sync.Mutex
			created := 0
			for range 4 {
				wg.Go(func() {
					got, c, err := s.ClaimAppointment(t.Context(), a)
					if !assert.NoError(t, err, "round %d: a copy of the key's own claim", round) {
						return
					}
					assert.Equal(t, a.Key, got.Key)
					if c {
						mu.Lock()
						created++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.Equal(t, 1, created, "round %d: one appointment", round)
		}
	})
}
