package sqlstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/safecall"
)

// TestTwoClientsRefreshAtOnce: two instances of a service, each with its
// own Client and connection pool on one database, book for the same clinic
// the moment its token expires. Both refresh; one save wins; the other
// re-reads and books with the winner's token. Nothing stale is written.
func TestTwoClientsRefreshAtOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		srv := gcaltest.NewServer(gcaltest.Options{})
		defer srv.Close()
		stores := []*sqlstore.Store{newStore(t, d.db, keyA), newStore(t, d.open(t), keyA)}
		clients := make([]*gcal.Client, len(stores))
		for i, s := range stores {
			clients[i] = gcal.New(srv.OAuthConfig("https://app.example/cb"), s,
				gcal.WithEndpoint(srv.URL()), gcal.WithHTTPClient(srv.Client()), gcal.WithAudit(s),
				gcal.WithCallOptions(safecall.WithBackoff(time.Millisecond, 10*time.Millisecond)))
		}
		tok := srv.IssueToken(gcaltest.DefaultAccount)
		tok.Expiry = time.Now().Add(-time.Minute) // as the clients see it: expired
		linked, err := stores[0].Save(t.Context(), gcal.Link{OrgID: "clinic", Status: gcal.Linked, Token: tok})
		require.NoError(t, err)
		// Both token requests are in flight together.
		srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Delay: 300 * time.Millisecond, Times: 2})

		start := make(chan struct{})
		var wg sync.WaitGroup
		events := make([]gcal.Event, len(clients))
		errs := make([]error, len(clients))
		for i, c := range clients {
			wg.Go(func() {
				<-start
				b := gcal.Booking{Key: "call-" + string(rune('a'+i)), Summary: "Check-up",
					Start: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)}
				events[i], errs[i] = c.Book(t.Context(), "clinic", b)
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}

		stored, err := stores[1].Load(t.Context(), "clinic")
		require.NoError(t, err)
		assert.Equal(t, linked.Version+1, stored.Version, "one refresh saved; the loser wrote nothing")
		assert.Equal(t, tok.RefreshToken, stored.Token.RefreshToken)
		assert.Equal(t, 2, srv.Count(gcaltest.OpToken), "each instance refreshed once")
		inserts := 0
		for _, r := range srv.Requests() {
			if r.Op == gcaltest.OpInsert {
				inserts++
				assert.Equal(t, stored.Token.AccessToken, r.AccessToken, "both booked with the saved token")
			}
		}
		assert.Equal(t, 2, inserts)
		assert.Len(t, srv.Events("primary"), 2)

		log, err := stores[0].AuditLog(t.Context(), "clinic", 0)
		require.NoError(t, err)
		count := map[gcal.AuditEvent]int{}
		for _, e := range log {
			count[e.Event]++
		}
		assert.Equal(t, 2, count[gcal.AuditRefreshed])
		assert.Equal(t, 1, count[gcal.AuditSaved])
	})
}
