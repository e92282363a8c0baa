package gcal_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

// TestConflictUsesWinnersToken: another process saves its refresh first;
// this one re-reads and uses the stored token, and saves nothing.
func TestConflictUsesWinnersToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		var winner gcal.Link
		store := &storeFunc{TokenStore: e.store}
		store.save = func(ctx context.Context, l gcal.Link) (gcal.Link, error) {
			if winner.Version == 0 {
				winner = e.refreshElsewhere(org) // the other process wins the race
			}
			return e.store.Save(ctx, l)
		}
		client := e.newClient(store)
		time.Sleep(time.Hour)

		_, err := client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		stored := e.stored(org)
		assert.Equal(t, winner.Version, stored.Version, "the loser saved nothing")
		assert.Equal(t, winner.Token.AccessToken, stored.Token.AccessToken)
		inserts := e.requests(gcaltest.OpInsert)
		require.Len(t, inserts, 1)
		assert.Equal(t, winner.Token.AccessToken, inserts[0].AccessToken, "the loser used the winner's token")
	})
}

// TestConflictWithoutNewTokenSavesOnTop: a save that changed the link but
// not its token (the calendar, say) is kept; the refreshed token goes on
// top of it.
func TestConflictWithoutNewTokenSavesOnTop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		store := &storeFunc{TokenStore: e.store}
		once := false
		store.save = func(ctx context.Context, l gcal.Link) (gcal.Link, error) {
			if !once {
				once = true
				cur := e.stored(org)
				cur.CalendarID = "front-desk@clinic.example"
				_, err := e.store.Save(ctx, cur)
				require.NoError(t, err)
			}
			return e.store.Save(ctx, l)
		}
		client := e.newClient(store)
		time.Sleep(time.Hour)

		ev, err := client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		stored := e.stored(org)
		assert.Equal(t, int64(3), stored.Version)
		assert.Equal(t, "front-desk@clinic.example", stored.CalendarID, "the other save is kept")
		assert.Equal(t, "front-desk@clinic.example", ev.CalendarID)
		assert.Equal(t, e.requests(gcaltest.OpInsert)[0].AccessToken, stored.Token.AccessToken)
	})
}

// TestUnlinkDuringRefreshIsNotUndone: a refresh that loses to an unlink
// does not bring the link back.
func TestUnlinkDuringRefreshIsNotUndone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		store := &storeFunc{TokenStore: e.store}
		once := false
		store.save = func(ctx context.Context, l gcal.Link) (gcal.Link, error) {
			if !once {
				once = true
				require.NoError(t, e.client.Unlink(ctx, org))
			}
			return e.store.Save(ctx, l)
		}
		client := e.newClient(store)
		time.Sleep(time.Hour)

		_, err := client.Book(t.Context(), org, booking("a"))
		require.ErrorIs(t, err, gcal.ErrNotLinked)
		assert.Equal(t, gcal.NotLinked, e.stored(org).Status)
		assert.Nil(t, e.stored(org).Token)
	})
}

// TestWaiterRefreshesWhenLeaderGivesUp: a call whose context ends during
// the refresh it leads does not fail the calls waiting for it.
func TestWaiterRefreshesWhenLeaderGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		time.Sleep(time.Hour)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Delay: 2 * time.Second})

		short, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var leaderErr, waiterErr error
		wg.Go(func() { _, leaderErr = e.client.Book(short, org, booking("a")) })
		synctest.Wait() // the leader is in its token request
		wg.Go(func() { _, waiterErr = e.client.Book(t.Context(), org, booking("b")) })
		wg.Wait()
		synctest.Wait() // the server has logged the leader's request

		assert.ErrorIs(t, leaderErr, context.DeadlineExceeded)
		require.NoError(t, waiterErr)
		assert.Equal(t, 2, e.refreshes())
	})
}
