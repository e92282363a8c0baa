package store_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/internal/testenv"
)

func forEachDB(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, open(t, store.SQLiteDSN(filepath.Join(t.TempDir(), "s.db")))) })
	t.Run("postgres", func(t *testing.T) { fn(t, open(t, testenv.Postgres(t))) })
}

func open(t *testing.T, url string) *store.Store {
	db, dialect, err := store.Open(url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s := store.New(db, dialect, nil)
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, s.Migrate(t.Context()), "idempotent")
	return s
}

var nine = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestAppointments(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := store.Appointment{OrgID: "o1", Key: "k1", Fingerprint: "fp", Start: nine, End: nine.Add(30 * time.Minute), Patient: "Ada"}
		got, created, err := s.ClaimAppointment(ctx, a)
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, store.Pending, got.Status)
		assert.Equal(t, nine, got.Start)

		again, created, err := s.ClaimAppointment(ctx, a)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, got, again)

		// Another key for the same start is refused; another clinic may.
		b := a
		b.Key = "k2"
		_, _, err = s.ClaimAppointment(ctx, b)
		require.ErrorIs(t, err, store.ErrSlotTaken)
		b.OrgID = "o2"
		_, created, err = s.ClaimAppointment(ctx, b)
		require.NoError(t, err)
		assert.True(t, created)

		require.NoError(t, s.MarkAttempted(ctx, "o1", "k1"))
		booked, err := s.Transition(ctx, "o1", "k1", []string{store.Pending}, store.Booked, "evt1")
		require.NoError(t, err)
		assert.Equal(t, store.Booked, booked.Status)
		assert.Equal(t, "evt1", booked.EventID)
		assert.True(t, booked.Attempted)
		_, err = s.Transition(ctx, "o1", "k1", []string{store.Pending}, store.Failed, "")
		require.ErrorIs(t, err, store.ErrConflict)

		// A cancelled appointment frees its slot; taking it back is refused.
		_, err = s.Transition(ctx, "o1", "k1", []string{store.Booked}, store.Cancelled, "")
		require.NoError(t, err)
		c := a
		c.Key = "k3"
		_, created, err = s.ClaimAppointment(ctx, c)
		require.NoError(t, err)
		assert.True(t, created)
		_, err = s.Transition(ctx, "o1", "k1", []string{store.Cancelled}, store.Pending, "")
		require.ErrorIs(t, err, store.ErrSlotTaken)

		list, err := s.Appointments(ctx, "o1", 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
		_, err = s.Appointment(ctx, "o1", "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestDueCancellations(t *testing.T) {
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return store.SQLiteDSN(filepath.Join(t.TempDir(), "s.db")) },
		"postgres": func(t *testing.T) string { return testenv.Postgres(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db, dialect, err := store.Open(url(t))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			now := nine.Add(-24 * time.Hour)
			s := store.New(db, dialect, func() time.Time { return now })
			require.NoError(t, s.Migrate(ctx))

			cancelling := func(key string, at time.Duration) {
				now = nine.Add(-24*time.Hour + at)
				a := store.Appointment{OrgID: "o1", Key: key, Fingerprint: "fp", Start: nine.Add(at), End: nine.Add(at + time.Minute), Patient: "Ada"}
				_, _, err := s.ClaimAppointment(ctx, a)
				require.NoError(t, err)
				_, err = s.Transition(ctx, "o1", key, []string{store.Pending}, store.Cancelling, "")
				require.NoError(t, err)
			}
			cancelling("late", 3*time.Second)
			cancelling("early", time.Second)
			cancelling("middle", 2*time.Second)
			now = nine.Add(-24*time.Hour + 4*time.Second)
			_, _, err = s.ClaimAppointment(ctx, store.Appointment{OrgID: "o2", Key: "booked", Fingerprint: "fp", Start: nine, End: nine.Add(time.Minute), Patient: "Bo"})
			require.NoError(t, err)

			keys := func(before time.Time, limit int) []string {
				due, err := s.DueCancellations(ctx, before, limit)
				require.NoError(t, err)
				var out []string
				for _, a := range due {
					assert.Equal(t, store.Cancelling, a.Status)
					out = append(out, a.Key)
				}
				return out
			}
			assert.Equal(t, []string{"early", "middle", "late"}, keys(now, 10), "oldest first, only those cancelling")
			assert.Equal(t, []string{"early", "middle"}, keys(nine.Add(-24*time.Hour+2*time.Second), 10), "touched at or before")
			assert.Equal(t, []string{"early"}, keys(now, 1))

			// Touching one (the calendar failed again) puts it last.
			_, err = s.Transition(ctx, "o1", "early", []string{store.Cancelling}, store.Cancelling, "")
			require.NoError(t, err)
			assert.Equal(t, []string{"middle", "late", "early"}, keys(now, 10))
			_, err = s.Transition(ctx, "o1", "middle", []string{store.Cancelling}, store.Cancelled, "")
			require.NoError(t, err)
			assert.Equal(t, []string{"late", "early"}, keys(now, 10))
		})
	}
}

func TestConcurrentClaimsOfOneKeyCreateOne(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i := range 20 {
			wg.Go(func() {
				a := store.Appointment{OrgID: "o", Key: "k", Fingerprint: "fp", Start: nine, End: nine.Add(time.Hour), Patient: "P"}
				if i%2 == 1 {
					a.Key = "other"
				}
				_, c, err := s.ClaimAppointment(t.Context(), a)
				if err != nil {
					assert.ErrorIs(t, err, store.ErrSlotTaken)
					return
				}
				if c {
					mu.Lock()
					created++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, created, "one slot, one appointment")
	})
}

func TestTexts(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		txt := store.Text{OrgID: "o", Key: "sms/1", Kind: "sms", To: "+15551234567", Body: "hi", Fingerprint: "f"}
		got, created, err := s.EnqueueText(ctx, txt)
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, store.TextPending, got.State)
		_, created, err = s.EnqueueText(ctx, txt)
		require.NoError(t, err)
		assert.False(t, created)

		due, err := s.DueTexts(ctx, time.Now(), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.NoError(t, s.UpdateText(ctx, "o", "sms/1", store.TextPending, 1, time.Now().Add(time.Hour)))
		due, err = s.DueTexts(ctx, time.Now(), 10)
		require.NoError(t, err)
		assert.Empty(t, due, "not due before its next attempt")
		require.NoError(t, s.UpdateText(ctx, "o", "sms/1", store.TextSent, 2, time.Time{}))
		got, err = s.Text(ctx, "o", "sms/1")
		require.NoError(t, err)
		assert.Equal(t, store.TextSent, got.State)
		assert.Equal(t, 2, got.Attempts)
		recent, err := s.RecentTexts(ctx, 5)
		require.NoError(t, err)
		assert.Len(t, recent, 1)
	})
}

func TestClinicsAndAudit(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Clinic(ctx, "o")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.SaveClinic(ctx, store.Clinic{OrgID: "o", Name: "Sunrise", Phone: "+15551234567", TimeZone: "Europe/London"})
		require.NoError(t, err)
		_, err = s.SaveClinic(ctx, store.Clinic{OrgID: "o", Name: "Sunrise Dental", Phone: "+15551234567", TimeZone: "UTC"})
		require.NoError(t, err)
		c, err := s.Clinic(ctx, "o")
		require.NoError(t, err)
		assert.Equal(t, "Sunrise Dental", c.Name)
		assert.Equal(t, "UTC", c.TimeZone)

		require.NoError(t, s.Audit(ctx, store.AdminAction{Actor: "op", Action: "breaker.reset", Vendor: "calendar", OrgID: "o"}))
		log, err := s.AdminLog(ctx, 10)
		require.NoError(t, err)
		require.Len(t, log, 1)
		assert.Equal(t, "breaker.reset", log[0].Action)
	})
}

func TestOpenRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"mysql://x", "not a mysql URL"},
		{"file:x.db", "busy_timeout"},
	} {
		_, _, err := store.Open(tc.url)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}
