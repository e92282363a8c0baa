package twilioguard_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

var errDown = errors.New("database is down")

// flakyStore is a MemoryStore whose calls can be made to fail or be
// preceded by a hook, one call at a time.
type flakyStore struct {
	twilioguard.MemoryStore
	mu           sync.Mutex
	failCreate   int // calls to fail
	failUpdate   int
	beforeUpdate func(d twilioguard.Delivery) // called once, before the next Update
	updates      int                          // Updates so far
	failUpdateAt int                          // the Update (from 1) to fail, 0 for none
	created      []twilioguard.Delivery       // what Create was given
}

func (s *flakyStore) take(n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (s *flakyStore) Create(ctx context.Context, d twilioguard.Delivery) (twilioguard.Delivery, bool, error) {
	s.mu.Lock()
	s.created = append(s.created, d)
	s.mu.Unlock()
	if s.take(&s.failCreate) {
		return twilioguard.Delivery{}, false, errDown
	}
	return s.MemoryStore.Create(ctx, d)
}

func (s *flakyStore) Update(ctx context.Context, d twilioguard.Delivery) (twilioguard.Delivery, error) {
	if err := ctx.Err(); err != nil { // as a database driver does
		return twilioguard.Delivery{}, err
	}
	s.mu.Lock()
	hook := s.beforeUpdate
	s.beforeUpdate = nil
	s.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	s.mu.Lock()
	s.updates++
	nth := s.updates == s.failUpdateAt
	s.mu.Unlock()
	if nth || s.take(&s.failUpdate) {
		return twilioguard.Delivery{}, errDown
	}
	return s.MemoryStore.Update(ctx, d)
}

func TestStoreDownCostsNoRequest(t *testing.T) {
	store := &flakyStore{failCreate: 1}
	e := newEnv(t, twilioguard.WithStore(store))
	_, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.ErrorIs(t, err, errDown)
	assert.Equal(t, safecall.Temporary, safecall.ClassOf(err))
	assert.Equal(t, 0, e.creates())
}

// Twilio accepted the message but the store failed to record it: the
// record is retried, not the message, and the org's breaker hears nothing.
func TestAcceptedMessageIsRecordedOnRetry(t *testing.T) {
	store := &flakyStore{failUpdate: 2}
	reg := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 2})
	e := newEnv(t, twilioguard.WithStore(store), twilioguard.WithBreakers(reg))
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, 1, e.creates())
	assert.Equal(t, breaker.Closed, reg.Get("org-1").State(), "store failures are not Twilio's")
	stored, err := store.Get(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, d.SID, stored.SID)
}

func TestAcceptedButNeverRecordedStillNamesTheSID(t *testing.T) {
	store := &flakyStore{failUpdate: 100}
	e := newEnv(t, twilioguard.WithStore(store))
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.ErrorIs(t, err, errDown)
	assert.Equal(t, e.fake.Messages()[0].SID, d.SID, "the caller learns the message went out")
	assert.Equal(t, 1, e.creates())

	stored, err := store.Get(t.Context(), "org-1", "appt-1")
	require.NoError(t, err)
	assert.Equal(t, twilioguard.Pending, stored.Status)
	assert.False(t, stored.LeaseUntil.IsZero(), "the lease is kept, so that the next Send reconciles once it ends")
}

// Another process took the delivery over (its lease had run out) while
// this one's request was in flight: this one defers to the stored result.
func TestSendThatLostItsLeaseDefersToTheStore(t *testing.T) {
	store := &flakyStore{}
	e := newEnv(t, twilioguard.WithStore(store))
	store.beforeUpdate = func(d twilioguard.Delivery) {
		taken := d
		taken.Version = 1
		taken.SID, taken.Status, taken.LeaseUntil = d.SID, twilioguard.Sent, time.Time{}
		_, err := store.MemoryStore.Update(context.Background(), taken) // the other process reconciled
		require.NoError(t, err)
	}
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, twilioguard.Sent, d.Status, "the other process's record")
	assert.Equal(t, 1, e.creates())
}

func TestAuditFailureDoesNotFailTheSend(t *testing.T) {
	e := newEnv(t, twilioguard.WithAudit(twilioguard.AuditFunc(func(context.Context, twilioguard.AuditEntry) error {
		return errDown
	})))
	d, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Contains(t, e.logs.String(), `"msg":"twilioguard: audit failed"`)
	assert.Contains(t, e.logs.String(), errDown.Error())
}

func TestMemoryStore(t *testing.T) {
	var s twilioguard.MemoryStore
	ctx := t.Context()
	_, err := s.Get(ctx, "o", "k")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)
	_, err = s.BySID(ctx, "SM1")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)
	_, err = s.Update(ctx, twilioguard.Delivery{OrgID: "o", Key: "k"})
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)

	d, created, err := s.Create(ctx, twilioguard.Delivery{OrgID: "o", Key: "k", Status: twilioguard.Pending, Version: 7})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, int64(1), d.Version)
	d.SID = "SM1"
	d2, err := s.Update(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, int64(2), d2.Version)
	got, err := s.BySID(ctx, "SM1")
	require.NoError(t, err)
	assert.Equal(t, d2, got)
	_, err = s.Update(ctx, d)
	assert.ErrorIs(t, err, twilioguard.ErrConflict)

	other, _, err := s.Create(ctx, twilioguard.Delivery{OrgID: "o", Key: "k2", SID: "SM2"})
	require.NoError(t, err)
	got, err = s.BySID(ctx, "SM2")
	require.NoError(t, err)
	assert.Equal(t, other, got)
	other.SID = "SM1"
	_, err = s.Update(ctx, other)
	assert.Error(t, err, "one SID, one delivery")
	_, err = s.BySID(ctx, "")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)

	d2.SID = "SM9" // a SID that changes moves its index entry
	d3, err := s.Update(ctx, d2)
	require.NoError(t, err)
	_, err = s.BySID(ctx, "SM1")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)
	got, err = s.BySID(ctx, "SM9")
	require.NoError(t, err)
	assert.Equal(t, d3, got)
	d3.Status = twilioguard.Delivered // the same SID: still found
	d4, err := s.Update(ctx, d3)
	require.NoError(t, err)
	got, err = s.BySID(ctx, "SM9")
	require.NoError(t, err)
	assert.Equal(t, d4, got)
	d4.SID = "" // no SID: no index entry
	_, err = s.Update(ctx, d4)
	require.NoError(t, err)
	_, err = s.BySID(ctx, "SM9")
	assert.ErrorIs(t, err, twilioguard.ErrNotFound)
}

// The record of a failed attempt that cannot be stored is reported with
// the attempt's own failure.
func TestFailedAttemptWhoseRecordFailsReportsBoth(t *testing.T) {
	store := &flakyStore{failUpdate: 1}
	e := newEnv(t, twilioguard.WithStore(store), twilioguard.WithCallOptions(safecall.WithRetries(0)))
	e.fake.Script(clinic, twiliotest.Fault{Status: 429})
	_, err := e.guard.Send(t.Context(), msg("org-1", "appt-1"))
	require.ErrorIs(t, err, errDown)
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 20429, te.Code)
}
