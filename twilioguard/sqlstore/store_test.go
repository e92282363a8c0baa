package sqlstore_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/internal/testenv"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/sqlstore"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)

func pending(org, key string) twilioguard.Delivery {
	return twilioguard.Delivery{
		OrgID: org, Key: key, To: "+15551234567", From: "+15005550006",
		Status: twilioguard.Pending, Attempts: 1,
		LeaseUntil: t0.Add(2 * time.Minute), CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestDeliveryStore(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		ctx := t.Context()

		d, created, err := s.Create(ctx, pending("org-1", "appt-1"))
		require.NoError(t, err)
		assert.True(t, created)
		want := pending("org-1", "appt-1")
		want.Version = 1
		assert.Equal(t, want, d)

		again, created, err := s.Create(ctx, twilioguard.Delivery{OrgID: "org-1", Key: "appt-1", To: "+15550000000",
			Status: twilioguard.Pending, CreatedAt: t0, UpdatedAt: t0})
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, d, again, "the stored delivery, untouched")

		got, err := s.Get(ctx, "org-1", "appt-1")
		require.NoError(t, err)
		assert.Equal(t, d, got)
		_, err = s.Get(ctx, "org-1", "nope")
		assert.ErrorIs(t, err, twilioguard.ErrNotFound)
		_, err = s.Get(ctx, "org-2", "appt-1")
		assert.ErrorIs(t, err, twilioguard.ErrNotFound, "keys are per org")
		_, err = s.BySID(ctx, "")
		assert.ErrorIs(t, err, twilioguard.ErrNotFound)

		next := d
		next.SID, next.Status, next.LeaseUntil, next.UpdatedAt = "SM1", twilioguard.Queued, time.Time{}, t0.Add(time.Second)
		next.CreatedAt = t0.Add(time.Hour) // ignored
		updated, err := s.Update(ctx, next)
		require.NoError(t, err)
		assert.Equal(t, int64(2), updated.Version)
		assert.Equal(t, "SM1", updated.SID)
		assert.True(t, updated.LeaseUntil.IsZero())
		assert.Equal(t, t0, updated.CreatedAt)
		assert.Equal(t, t0.Add(time.Second), updated.UpdatedAt)
		bySID, err := s.BySID(ctx, "SM1")
		require.NoError(t, err)
		assert.Equal(t, updated, bySID)

		_, err = s.Update(ctx, next) // version 1 again
		assert.ErrorIs(t, err, twilioguard.ErrConflict)
		ghost := next
		ghost.Key = "ghost"
		_, err = s.Update(ctx, ghost)
		assert.ErrorIs(t, err, twilioguard.ErrNotFound)

		other, _, err := s.Create(ctx, pending("org-1", "appt-2"))
		require.NoError(t, err)
		other.SID = "SM1"
		_, err = s.Update(ctx, other)
		assert.Error(t, err, "one SID, one delivery")
		assert.NotErrorIs(t, err, twilioguard.ErrConflict)

		// Failed without a SID, with Twilio's code.
		other.SID, other.Status, other.ErrorCode = "", twilioguard.Failed, 21610
		failed, err := s.Update(ctx, other)
		require.NoError(t, err)
		assert.Equal(t, 21610, failed.ErrorCode)
		assert.Empty(t, failed.SID)
	})
}

// Of concurrent Creates of one key, exactly one creates.
func TestConcurrentCreatesElectOne(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range n {
			wg.Go(func() {
				d := pending("org-1", "appt-1")
				d.To = fmt.Sprintf("+1555000%04d", i)
				stored, created, err := s.Create(t.Context(), d)
				assert.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				if created {
					winners++
				}
				assert.Equal(t, int64(1), stored.Version)
			})
		}
		wg.Wait()
		assert.Equal(t, 1, winners)
	})
}

func TestAuditTrail(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		entries := []twilioguard.AuditEntry{
			{At: t0, OrgID: "org-1", Key: "appt-1", Event: twilioguard.EventAttempt, To: "+1******4567", Attempt: 1},
			{At: t0.Add(time.Second), OrgID: "org-1", Key: "appt-1", Event: twilioguard.EventLost, To: "+1******4567",
				Attempt: 1, Class: "temporary", Code: 20500, HTTPStatus: 500},
			{At: t0.Add(2 * time.Second), OrgID: "org-1", Key: "appt-1", Event: twilioguard.EventReconciled,
				To: "+1******4567", Attempt: 1, SID: "SM1", Status: twilioguard.Queued},
			{At: t0, OrgID: "org-1", Key: "appt-2", Event: twilioguard.EventAttempt, To: "+1******4567", Attempt: 1},
		}
		for _, e := range entries {
			require.NoError(t, s.Audit(t.Context(), e))
		}
		trail, err := s.Trail(t.Context(), "org-1", "appt-1")
		require.NoError(t, err)
		assert.Equal(t, entries[:3], trail)
		none, err := s.Trail(t.Context(), "org-2", "appt-1")
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestNewNeedsAKnownDialect(t *testing.T) {
	_, err := sqlstore.New(nil)
	require.Error(t, err)
	db := testenv.SQLite(t, "")
	s, err := sqlstore.New(db)
	require.NoError(t, err)
	assert.Equal(t, sqlstore.SQLite, s.Dialect())
	assert.Equal(t, "sqlite", s.Dialect().String())
	s, err = sqlstore.New(db, sqlstore.WithDialect(sqlstore.Postgres))
	require.NoError(t, err)
	assert.Equal(t, sqlstore.Postgres, s.Dialect())
	_, err = sqlstore.New(db, sqlstore.WithDialect(9))
	assert.ErrorIs(t, err, sqlstore.ErrUnknownDialect)
}
