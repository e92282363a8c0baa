package sqlstore_test

import (
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/sqlstore"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

const patient = "+15551234567"

// guards returns n Guards sharing one Store on db and one fake Twilio, as n
// instances of a service would.
func guards(t *testing.T, db *sql.DB, n int) ([]*twilioguard.Guard, *sqlstore.Store, *twiliotest.Server) {
	t.Helper()
	store := newStore(t, db)
	fake := twiliotest.NewServer()
	t.Cleanup(fake.Close)
	var gs []*twilioguard.Guard
	for range n {
		g, err := twilioguard.New(twilioguard.Config{
			AccountSID: fake.AccountSID, AuthToken: fake.AuthToken,
			From: twiliotest.FromValid, BaseURL: fake.URL,
		}, twilioguard.WithStore(store), twilioguard.WithAudit(store),
			twilioguard.WithCallOptions(safecall.WithBackoff(time.Millisecond, 2*time.Millisecond)))
		require.NoError(t, err)
		t.Cleanup(g.CloseIdleConnections)
		gs = append(gs, g)
	}
	return gs, store, fake
}

func message(key string) twilioguard.Message {
	return twilioguard.Message{OrgID: "clinic-1", Key: key, To: patient, Body: "See you Tuesday at 10:00."}
}

// Concurrent Sends of one key from several instances make one request.
func TestInstancesSharingTheStoreSendOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		gs, _, fake := guards(t, db, 3)
		fake.Script(twiliotest.FromValid, twiliotest.Fault{Delay: 30 * time.Millisecond})
		var wg sync.WaitGroup
		sids := make([]string, 0, 6)
		var mu sync.Mutex
		for i := range 6 {
			wg.Go(func() {
				d, err := gs[i%3].Send(t.Context(), message("appt-1"))
				assert.NoError(t, err)
				mu.Lock()
				sids = append(sids, d.SID)
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Equal(t, 1, fake.Count(twiliotest.Create))
		require.Len(t, fake.Messages(), 1)
		for _, sid := range sids {
			assert.Equal(t, fake.Messages()[0].SID, sid)
		}
	})
}

// A lost answer is reconciled, by another instance if need be, and the
// trail tells the story without the number or the text.
func TestLostAnswerAcrossInstancesWithAuditTrail(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		gs, store, fake := guards(t, db, 2)
		fake.Script(twiliotest.FromValid,
			twiliotest.Fault{Accept: true, Status: 502},
			twiliotest.Fault{Op: twiliotest.List, Status: 503, Times: 3},
		)
		d, err := gs[0].Send(t.Context(), message("appt-1"))
		require.Error(t, err)
		assert.Equal(t, twilioguard.Unknown, d.Status)

		d, err = gs[1].Send(t.Context(), message("appt-1"))
		require.NoError(t, err)
		assert.Equal(t, 1, fake.Count(twiliotest.Create))
		assert.Equal(t, fake.Messages()[0].SID, d.SID)

		trail, err := store.Trail(t.Context(), "clinic-1", "appt-1")
		require.NoError(t, err)
		var events []twilioguard.AuditEvent
		for _, e := range trail {
			events = append(events, e.Event)
			assert.Equal(t, "+1******4567", e.To)
		}
		assert.Equal(t, []twilioguard.AuditEvent{
			twilioguard.EventAttempt, twilioguard.EventLost, twilioguard.EventReconciled,
		}, events)
		assert.Equal(t, 502, trail[1].HTTPStatus)
		assert.Equal(t, d.SID, trail[2].SID)

		var dump strings.Builder
		rows, err := db.QueryContext(t.Context(), "SELECT to_masked, class, sid, status FROM sms_audit")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var a, b, c, e string
			require.NoError(t, rows.Scan(&a, &b, &c, &e))
			dump.WriteString(a + b + c + e)
		}
		require.NoError(t, rows.Err())
		assert.NotContains(t, dump.String(), "5551234567")
		assert.NotContains(t, dump.String(), "Tuesday")
	})
}
