package gcal_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/safecall"
)

func TestRefreshBeforeUseWithinSkew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		first := e.link(org)

		time.Sleep(54 * time.Minute) // 6 minutes left: more than the skew
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Zero(t, e.refreshes(), "a token good for longer than the skew is used as is")

		time.Sleep(2 * time.Minute) // 4 minutes left: within the 5-minute skew
		_, err = e.client.Book(t.Context(), org, booking("b"))
		require.NoError(t, err)
		assert.Equal(t, 1, e.refreshes())

		l := e.stored(org)
		assert.Equal(t, first.Version+1, l.Version)
		assert.NotEqual(t, first.Token.AccessToken, l.Token.AccessToken)
		assert.Equal(t, first.Token.RefreshToken, l.Token.RefreshToken, "the refresh token is kept")
		assert.Equal(t, time.Now().Add(time.Hour), l.Token.Expiry)
		inserts := e.requests(gcaltest.OpInsert)
		require.Len(t, inserts, 2)
		assert.Equal(t, l.Token.AccessToken, inserts[1].AccessToken, "the booking used the refreshed token")
	})
}

func TestRefreshSkewOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, gcal.WithRefreshSkew(20*time.Minute))
		e.link(org)
		time.Sleep(41 * time.Minute) // 19 minutes left
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Equal(t, 1, e.refreshes())
	})
}

// TestRefreshedTokenSavedBeforeUse: the store holds a refreshed token
// before any request carries it (the original system never saved them).
func TestRefreshedTokenSavedBeforeUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		var saves int
		store := &storeFunc{TokenStore: e.store, save: func(ctx context.Context, l gcal.Link) (gcal.Link, error) {
			saves++
			for _, r := range e.srv.Requests() {
				assert.NotEqual(t, l.Token.AccessToken, r.AccessToken, "token used before it was saved")
			}
			return e.store.Save(ctx, l)
		}}
		client := e.newClient(store)
		time.Sleep(time.Hour) // expired

		_, err := client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Equal(t, 1, saves)
		assert.Equal(t, []gcal.AuditEvent{gcal.AuditLoaded, gcal.AuditLoaded, gcal.AuditRefreshed, gcal.AuditSaved},
			e.audit.events(org), "load, re-load under the refresh, refresh, save")
	})
}

func TestRefreshOn401ThenRetryOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.srv.ExpireAccessTokens() // Google rejects a token the Client thinks fresh

		ev, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.True(t, ev.Created)
		assert.Equal(t, 1, e.refreshes())
		inserts := e.requests(gcaltest.OpInsert)
		require.Len(t, inserts, 2)
		assert.Equal(t, 401, inserts[0].Status)
		assert.Equal(t, 200, inserts[1].Status)
		assert.Equal(t, e.stored(org).Token.AccessToken, inserts[1].AccessToken)
		assert.Zero(t, e.breakers.Get(org).Snapshot().ConsecutiveFailures, "a 401 is no breaker failure")
	})
}

// TestSecond401IsFinal: after one refresh and one retry, a second 401 ends
// the call as Auth.
func TestSecond401IsFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.srv.Fail(gcaltest.Fault{Status: 401, Times: -1})

		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.Error(t, err)
		assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
		assert.Len(t, e.requests(gcaltest.OpInsert), 2)
		assert.Equal(t, 1, e.refreshes())
	})
}

func TestInvalidGrantRequiresRelink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		e.srv.Revoke(l.Token.RefreshToken) // the clinic removed the app's access
		time.Sleep(time.Hour)

		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
		assert.Equal(t, gcal.DefaultUserMessage, safecall.UserMessage(err))
		var re *gcal.RelinkError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, re.Reason, "Link Google Calendar again")
		assert.Contains(t, re.Reason, "Token has been expired or revoked.")
		assert.Equal(t, 1, e.refreshes(), "invalid_grant is not retried")

		stored := e.stored(org)
		assert.Equal(t, gcal.RelinkRequired, stored.Status)
		assert.Equal(t, re.Reason, stored.Reason)
		assert.Nil(t, stored.Token, "a refused token is not kept")
		assert.Contains(t, e.audit.events(org), gcal.AuditRefused)

		for range 3 {
			_, err = e.client.Book(t.Context(), org, booking("b"))
			require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		}
		assert.Equal(t, 1, e.refreshes(), "no token request until relinked")
		assert.Empty(t, e.requests(gcaltest.OpInsert))
		snap := e.breakers.Get(org).Snapshot()
		assert.Zero(t, snap.ConsecutiveFailures, "a refused link is no breaker failure")

		status, err := e.client.Status(t.Context(), org)
		require.NoError(t, err)
		assert.Equal(t, gcal.RelinkRequired, status)
		r := e.client.Check("calendar").Func(t.Context())
		assert.Equal(t, health.Degraded, r.Status)
		assert.Equal(t, 1, r.Details["relinkRequired"])
		assert.NotContains(t, r.Message, org)

		// The clinic links again: bookings work at once.
		authURL, err := e.client.AuthURL(org)
		require.NoError(t, err)
		code, state, err := e.srv.Consent(t.Context(), authURL)
		require.NoError(t, err)
		_, err = e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err)
		_, err = e.client.Book(t.Context(), org, booking("c"))
		require.NoError(t, err)
		assert.Equal(t, health.Healthy, e.client.Check("calendar").Func(t.Context()).Status)
		assert.Contains(t, e.audit.events(org), gcal.AuditRelinked)
	})
}

// TestInvalidGrantAfter401: a grant revoked while its access token is still
// fresh shows as a 401, then invalid_grant on the refresh.
func TestInvalidGrantAfter401(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		e.srv.Revoke(l.Token.RefreshToken)

		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
		assert.Equal(t, gcal.DefaultUserMessage, safecall.UserMessage(err))
		assert.Equal(t, gcal.RelinkRequired, e.stored(org).Status)
		assert.Len(t, e.requests(gcaltest.OpInsert), 1)
		assert.Zero(t, e.breakers.Get(org).Snapshot().ConsecutiveFailures)
	})
}

// TestInvalidGrantUnsavedStillNoSecondRequest: when the store cannot record
// the refusal, the Client still never sends the refused token again.
func TestInvalidGrantUnsavedStillNoSecondRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		down := errors.New("store down")
		client := e.newClient(&storeFunc{TokenStore: e.store, save: func(context.Context, gcal.Link) (gcal.Link, error) {
			return gcal.Link{}, down
		}})
		e.srv.Revoke(l.Token.RefreshToken)
		time.Sleep(time.Hour)

		for range 3 {
			_, err := client.Book(t.Context(), org, booking("a"))
			require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		}
		assert.Equal(t, 1, e.refreshes())
	})
}

func TestConcurrentBookingsAtExpiryShareOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		first := e.link(org)
		time.Sleep(time.Hour)

		var wg sync.WaitGroup
		errs := make([]error, 50)
		for i := range 50 {
			wg.Go(func() {
				_, errs[i] = e.client.Book(t.Context(), org, booking("call-"+string(rune('A'+i))))
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, 1, e.refreshes(), "one token request for 50 bookings")
		assert.Len(t, e.srv.Events("primary"), 50)
		stored := e.stored(org)
		assert.Equal(t, first.Version+1, stored.Version, "one save")
		for _, r := range e.requests(gcaltest.OpInsert) {
			assert.Equal(t, stored.Token.AccessToken, r.AccessToken)
		}
	})
}

func TestTokenEndpointDownIsTemporary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		time.Sleep(time.Hour)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 503, Times: -1})

		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.Error(t, err)
		assert.Equal(t, safecall.Temporary, safecall.ClassOf(err))
		assert.NotErrorIs(t, err, gcal.ErrRelinkRequired)
		assert.Equal(t, 4, e.refreshes(), "retried by safecall's policy")
		assert.Equal(t, gcal.Linked, e.stored(org).Status, "an outage is not a relink")
		r := e.client.Check("calendar").Func(t.Context())
		assert.Equal(t, health.Degraded, r.Status)
		assert.Equal(t, 1, r.Details["refreshFailing"])

		e.srv.ClearFaults()
		_, err = e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Equal(t, health.Healthy, e.client.Check("calendar").Func(t.Context()).Status)
	})
}

func TestDeadlineHonouredByTokenRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		time.Sleep(time.Hour)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Delay: time.Hour})

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.client.Book(ctx, org, booking("a"))
		require.Error(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, safecall.Canceled, safecall.ClassOf(err))
	})
}

func TestDeadlineHonouredByAPIRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: time.Hour})

		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.client.Book(ctx, org, booking("a"))
		require.Error(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
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

func TestNotLinked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		for _, orgID := range []string{"unknown", ""} {
			_, err := e.client.Book(t.Context(), orgID, booking("a"))
			require.ErrorIs(t, err, gcal.ErrNotLinked)
			assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
			assert.Equal(t, gcal.DefaultUserMessage, safecall.UserMessage(err))
			err = e.client.Cancel(t.Context(), orgID, "a")
			require.ErrorIs(t, err, gcal.ErrNotLinked)
			_, err = e.client.Busy(t.Context(), orgID, time.Now(), time.Now().Add(time.Hour))
			require.ErrorIs(t, err, gcal.ErrNotLinked)
		}
		status, err := e.client.Status(t.Context(), "unknown")
		require.NoError(t, err)
		assert.Equal(t, gcal.NotLinked, status)
		assert.Empty(t, e.srv.Requests())
	})
}

// TestNoTokenInLogsOrAudit runs the whole life cycle and looks for every
// token the fake issued in the logs and the audit entries.
func TestNoTokenInLogsOrAudit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		time.Sleep(time.Hour)
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		e.srv.ExpireAccessTokens()
		_, err = e.client.Book(t.Context(), org, booking("b"))
		require.NoError(t, err)
		e.srv.Revoke(l.Token.RefreshToken)
		_, err = e.client.Book(t.Context(), org, booking("c"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		authURL, err := e.client.AuthURL(org)
		require.NoError(t, err)
		code, state, err := e.srv.Consent(t.Context(), authURL)
		require.NoError(t, err)
		linked, err := e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err)
		require.NoError(t, e.client.Unlink(t.Context(), org))

		secrets := []string{l.Token.RefreshToken, linked.Token.RefreshToken, linked.Token.AccessToken, code}
		for _, r := range e.srv.Requests() {
			if r.AccessToken != "" {
				secrets = append(secrets, r.AccessToken)
			}
		}
		logs := e.logs.String()
		require.NotEmpty(t, logs)
		var audit strings.Builder
		for _, a := range e.audit.all() {
			audit.WriteString(a.OrgID + " " + string(a.Event) + " " + a.Detail + "\n")
		}
		for _, s := range secrets {
			assert.NotContains(t, logs, s)
			assert.NotContains(t, audit.String(), s)
		}
		assert.Subset(t, e.audit.events(org), []gcal.AuditEvent{
			gcal.AuditLoaded, gcal.AuditRefreshed, gcal.AuditSaved, gcal.AuditRefused,
			gcal.AuditRelinked, gcal.AuditUnlinked,
		})
	})
}
