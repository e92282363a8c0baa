package twilioguard

import (
	"context"
	"errors"
	"sync"
)

// errDuplicateSID is MemoryStore's refusal to give one SID to two deliveries.
var errDuplicateSID = errors.New("twilioguard: SID belongs to another delivery")

// DeliveryStore keeps deliveries: the outbox that makes Send exactly-once.
// MemoryStore keeps them in memory; twilioguard/sqlstore in PostgreSQL or
// SQLite, shared by every instance of a service. Implementations must be
// safe for concurrent use.
type DeliveryStore interface {
	// Create stores d, whose Version is ignored and stored as 1, unless a
	// delivery of (d.OrgID, d.Key) exists. It returns the stored delivery
	// and whether it was created by this call. Of concurrent Creates of
	// one key, in any number of processes, exactly one creates.
	Create(ctx context.Context, d Delivery) (Delivery, bool, error)
	// Get returns the delivery of (orgID, key), or ErrNotFound.
	Get(ctx context.Context, orgID, key string) (Delivery, error)
	// BySID returns the delivery whose SID is sid, or ErrNotFound.
	BySID(ctx context.Context, sid string) (Delivery, error)
	// Update stores d over the delivery of (d.OrgID, d.Key) if that one's
	// Version equals d.Version, and returns it with Version incremented.
	// It returns ErrConflict if the versions differ, ErrNotFound if there
	// is no such delivery, and an error if d.SID belongs to another
	// delivery. Every field but OrgID, Key and CreatedAt is replaced.
	Update(ctx context.Context, d Delivery) (Delivery, error)
}

// MemoryStore is a DeliveryStore in memory, for a single process and for
// tests. The zero value is ready to use; it is safe for concurrent use.
type MemoryStore struct {
	mu    sync.Mutex
	byKey map[deliveryKey]*Delivery
	bySID map[string]*Delivery
}

type deliveryKey struct{ org, key string }

var _ DeliveryStore = (*MemoryStore)(nil)

// Create implements DeliveryStore.
func (s *MemoryStore) Create(_ context.Context, d Delivery) (Delivery, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := deliveryKey{d.OrgID, d.Key}
	if old, ok := s.byKey[k]; ok {
		return *old, false, nil
	}
	if s.byKey == nil {
		s.byKey = make(map[deliveryKey]*Delivery)
		s.bySID = make(map[string]*Delivery)
	}
	d.Version = 1
	stored := d
	s.byKey[k] = &stored
	if d.SID != "" {
		s.bySID[d.SID] = &stored
	}
	return d, true, nil
}

// Get implements DeliveryStore.
func (s *MemoryStore) Get(_ context.Context, orgID, key string) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.byKey[deliveryKey{orgID, key}]; ok {
		return *d, nil
	}
	return Delivery{}, ErrNotFound
}

// BySID implements DeliveryStore.
func (s *MemoryStore) BySID(_ context.Context, sid string) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.bySID[sid]; ok && sid != "" {
		return *d, nil
	}
	return Delivery{}, ErrNotFound
}

// Update implements DeliveryStore.
func (s *MemoryStore) Update(_ context.Context, d Delivery) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byKey[deliveryKey{d.OrgID, d.Key}]
	switch {
	case !ok:
		return Delivery{}, ErrNotFound
	case old.Version != d.Version:
		return Delivery{}, ErrConflict
	}
	if d.SID != old.SID {
		if other, ok := s.bySID[d.SID]; ok && d.SID != "" && other != old {
			return Delivery{}, errDuplicateSID
		}
		if old.SID != "" {
			delete(s.bySID, old.SID)
		}
		if d.SID != "" {
			s.bySID[d.SID] = old
		}
	}
	d.Version++
	d.CreatedAt = old.CreatedAt
	*old = d
	return d, nil
}
