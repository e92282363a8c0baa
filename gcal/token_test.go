package gcal_test

import (
	"context"
	"errors"
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

		time.Sleep(55*time.Minute - time.Nanosecond) // a hair more than the skew left
		_, err := e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
		assert.Zero(t, e.refreshes(), "a token good for longer than the skew is used as is")

		time.Sleep(time.Nanosecond) // exactly the 5-minute skew left
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
		_, err = e.client.Status(t.Context(), org) // reading the link is no recovery
		require.NoError(t, err)
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
