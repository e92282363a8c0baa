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
	"github.com/voxanne/resilience/safecall"
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
		start := time.Now()
		var wg sync.WaitGroup
		var leaderErr, waiterErr error
		var waiterDone time.Duration
		wg.Go(func() { _, leaderErr = e.client.Book(short, org, booking("a")) })
		synctest.Wait() // the leader is in its token request
		wg.Go(func() {
			_, waiterErr = e.client.Book(t.Context(), org, booking("b"))
			waiterDone = time.Since(start)
		})
		wg.Wait()
		synctest.Wait() // the server has logged the leader's request

		assert.ErrorIs(t, leaderErr, context.DeadlineExceeded)
		require.NoError(t, waiterErr)
		assert.Equal(t, time.Second, waiterDone, "refreshed at once, without a retry's wait")
		assert.Equal(t, 2, e.refreshes())
	})
}

// TestConflictWinnerAboutToExpireIsNotUsed: a winner's token with only
// tokenMargin (10s) left is not worth using; the loser's fresh token is
// saved on top of it.
func TestConflictWinnerAboutToExpireIsNotUsed(t *testing.T) {
	for name, tt := range map[string]struct {
		left      time.Duration
		useTheirs bool
	}{
		"10s left":         {10 * time.Second, false},
		"10s and 1ns left": {10*time.Second + time.Nanosecond, true},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.link(org)
				var winner gcal.Link
				store := &storeFunc{TokenStore: e.store}
				store.save = func(ctx context.Context, l gcal.Link) (gcal.Link, error) {
					if winner.Version == 0 {
						cur := e.stored(org)
						cur.Token = e.srv.IssueToken(account)
						cur.Token.RefreshToken = l.Token.RefreshToken // same grant
						cur.Token.Expiry = time.Now().Add(tt.left)
						var err error
						winner, err = e.store.Save(ctx, cur)
						require.NoError(t, err)
					}
					return e.store.Save(ctx, l)
				}
				client := e.newClient(store)
				time.Sleep(time.Hour)

				_, err := client.Book(t.Context(), org, booking("a"))
				require.NoError(t, err)
				stored := e.stored(org)
				used := e.requests(gcaltest.OpInsert)[0].AccessToken
				if tt.useTheirs {
					assert.Equal(t, winner.Version, stored.Version)
					assert.Equal(t, winner.Token.AccessToken, used)
				} else {
					assert.Equal(t, winner.Version+1, stored.Version, "saved on top")
					assert.NotEqual(t, winner.Token.AccessToken, used)
					assert.Equal(t, stored.Token.AccessToken, used)
				}
			})
		})
	}
}

// TestWaiterWithRejectedTokenRefreshesAgain: a call whose token Google
// refused joins a refresh that began earlier and that brings back that very
// token (another process had saved it); the call then refreshes again
// rather than retry with the refused token.
func TestWaiterWithRejectedTokenRefreshesAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		gate := make(chan struct{})
		loads := 0
		var mu sync.Mutex
		store := &storeFunc{TokenStore: e.store}
		store.load = func(ctx context.Context, orgID string) (gcal.Link, error) {
			mu.Lock()
			loads++
			n := loads
			mu.Unlock()
			if n == 2 { // the leader's re-read under its refresh
				<-gate
			}
			return e.store.Load(ctx, orgID)
		}
		client := e.newClient(store)
		e.srv.ExpireAccessTokens() // Google refuses T1

		var wg sync.WaitGroup
		var leaderErr, waiterErr error
		wg.Go(func() { _, leaderErr = client.Book(t.Context(), org, booking("leader")) })
		synctest.Wait() // the leader got its 401 and waits in its re-read

		t2 := e.refreshElsewhere(org) // another process saves T2...
		e.srv.ExpireAccessTokens()    // ...which Google refuses too
		wg.Go(func() { _, waiterErr = client.Book(t.Context(), org, booking("waiter")) })
		synctest.Wait() // the waiter got its 401 with T2 and joined the refresh
		close(gate)
		wg.Wait()

		require.NoError(t, waiterErr)
		var last gcaltest.Request // the waiter's last insert
		for _, r := range e.requests(gcaltest.OpInsert) {
			if r.EventID == gcal.EventID(org, "waiter") {
				last = r
			}
		}
		assert.Equal(t, 200, last.Status)
		assert.NotEqual(t, t2.Token.AccessToken, last.AccessToken, "not the refused token")
		assert.Equal(t, e.stored(org).Token.AccessToken, last.AccessToken)
		_ = leaderErr // the leader retried with T2, which Google refused: its call is Auth
	})
}

// TestWaitersShareFailedRefresh: a refresh that fails fails its waiters
// too; they do not each send the refresh token again at once, but retry
// after safecall's wait, together.
func TestWaitersShareFailedRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, gcal.WithCallOptions(safecall.WithJitter(0)))
		e.link(org)
		time.Sleep(time.Hour)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Delay: time.Second, Status: 503})

		start := time.Now()
		var wg sync.WaitGroup
		done := make([]time.Duration, 2)
		for i := range done {
			wg.Go(func() {
				_, err := e.client.Book(t.Context(), org, booking(string(rune('a'+i))))
				assert.NoError(t, err)
				done[i] = time.Since(start)
			})
			synctest.Wait() // the first leads, the second waits
		}
		wg.Wait()
		assert.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second}, done, "1s to fail, 1s of backoff")
		assert.Equal(t, 2, e.refreshes(), "the failed one, then one for both")
	})
}
