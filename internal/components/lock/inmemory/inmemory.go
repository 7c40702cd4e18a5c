// Package inmemory is the lock.in-memory store: leases in a map guarded by
// a mutex. Its leases are shared by every app the component serves and live
// as long as the instance, so it suits one cove process (cove up, where one
// instance serves every replica) and tests, not sidecars in several
// processes.
//
// It imports only the components registry and the lock interface.
package inmemory

import (
	"context"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/lock"
)

// Type is the component type this package registers.
const Type = "lock.in-memory"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ lock.Store = (*Store)(nil)

// Store is the in-memory lock store.
type Store struct {
	mu     sync.Mutex
	leases map[string]lease
	now    func() time.Time
}

type lease struct {
	owner   string
	expires time.Time
}

// New returns a store with no leases.
func New() *Store { return &Store{leases: map[string]lease{}, now: time.Now} }

// Init reads no metadata; unknown keys are warned about.
func (s *Store) Init(_ context.Context, md components.Metadata) error {
	unknown, err := md.Decode(&struct{ lock.RuntimeMetadata }{})
	md.WarnUnknown(unknown)
	return err
}

// TryLock takes the lease when nobody holds it or the holder's expired.
// Expired leases of other resources are dropped on the way, so the map
// holds only live ones plus those not looked at since they expired.
func (s *Store) TryLock(_ context.Context, resource, owner string, expiry time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[resource]; ok && now.Before(l.expires) {
		return false, nil
	}
	if len(s.leases) > 0 && len(s.leases)%64 == 0 {
		s.sweep(now)
	}
	s.leases[resource] = lease{owner: owner, expires: now.Add(expiry)}
	return true, nil
}

// sweep drops expired leases; s.mu is held.
func (s *Store) sweep(now time.Time) {
	for r, l := range s.leases {
		if !now.Before(l.expires) {
			delete(s.leases, r)
		}
	}
}

// Unlock releases owner's live lease.
func (s *Store) Unlock(_ context.Context, resource, owner string) (lock.UnlockStatus, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[resource]
	switch {
	case !ok || !now.Before(l.expires):
		delete(s.leases, resource)
		return lock.LockDoesNotExist, nil
	case l.owner != owner:
		return lock.LockBelongsToOthers, nil
	}
	delete(s.leases, resource)
	return lock.Success, nil
}

// Close drops every lease.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.leases)
	return nil
}
