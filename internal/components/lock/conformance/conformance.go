// Package conformance is the one test suite every lock store passes,
// against its real server: leases, owners, expiry, and contention between
// two instances of the store (two sidecars' views of one server).
package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/componenttest"
	"github.com/cove-env/cove/internal/components/lock"
)

// Open builds the registered type typ from the registry, as the hosts do,
// initialises it with props and closes it when t ends.
func Open(t *testing.T, typ string, props map[string]string) (lock.Store, error) {
	t.Helper()
	return componenttest.Open[lock.Store](t, typ, props)
}

// Pair opens two instances that share their leases (the same server, or
// for an embedded store the same instance twice).
type Pair func(t *testing.T) (a, b lock.Store)

// Run runs every case; resources are unique per run, so runs against one
// server do not meet.
func Run(t *testing.T, pair Pair) {
	prefix := "cove-conformance-lock-" + unique() + "-"
	t.Run("TryLockThenUnlock", func(t *testing.T) {
		a, _ := pair(t)
		r := prefix + "basic"
		mustLock(t, a, r, "owner1", time.Minute, true)
		mustUnlock(t, a, r, "owner1", lock.Success)
		// Released: it can be taken again.
		mustLock(t, a, r, "owner2", time.Minute, true)
		mustUnlock(t, a, r, "owner2", lock.Success)
	})
	t.Run("HeldLeaseRefusesEveryone", func(t *testing.T) {
		a, b := pair(t)
		r := prefix + "held"
		mustLock(t, a, r, "owner1", time.Minute, true)
		mustLock(t, b, r, "owner2", time.Minute, false)
		// Not reentrant: the owner itself cannot take it twice.
		mustLock(t, a, r, "owner1", time.Minute, false)
		mustUnlock(t, a, r, "owner1", lock.Success)
	})
	t.Run("UnlockStatuses", func(t *testing.T) {
		a, b := pair(t)
		r := prefix + "statuses"
		mustUnlock(t, a, r, "owner1", lock.LockDoesNotExist)
		mustLock(t, a, r, "owner1", time.Minute, true)
		mustUnlock(t, b, r, "owner2", lock.LockBelongsToOthers)
		// The other owner's attempt left the lease in place.
		mustLock(t, b, r, "owner2", time.Minute, false)
		mustUnlock(t, b, r, "owner1", lock.Success)
		mustUnlock(t, a, r, "owner1", lock.LockDoesNotExist)
	})
	t.Run("Expiry", func(t *testing.T) {
		a, b := pair(t)
		r := prefix + "expiry"
		mustLock(t, a, r, "owner1", time.Second, true)
		time.Sleep(1200 * time.Millisecond)
		// Expired: the first owner's unlock finds nothing, and the lease
		// goes to whoever asks next.
		mustUnlock(t, a, r, "owner1", lock.LockDoesNotExist)
		mustLock(t, b, r, "owner2", time.Minute, true)
		// The first owner cannot release the second's lease.
		mustUnlock(t, a, r, "owner1", lock.LockBelongsToOthers)
		mustUnlock(t, b, r, "owner2", lock.Success)
	})
	t.Run("ResourcesAreIndependent", func(t *testing.T) {
		a, _ := pair(t)
		mustLock(t, a, prefix+"one", "owner1", time.Minute, true)
		mustLock(t, a, prefix+"two", "owner1", time.Minute, true)
		mustUnlock(t, a, prefix+"one", "owner1", lock.Success)
		mustUnlock(t, a, prefix+"two", "owner1", lock.Success)
	})
	t.Run("ContendedGrantsExactlyOne", func(t *testing.T) {
		a, b := pair(t)
		for round := range 5 {
			r := prefix + "contended-" + string(rune('a'+round))
			var (
				wins   atomic.Int32
				winner atomic.Value
				wg     sync.WaitGroup
				start  = make(chan struct{})
			)
			for i := range 16 {
				st := a
				if i%2 == 1 {
					st = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					owner := "owner-" + string(rune('A'+i))
					ok, err := st.TryLock(t.Context(), r, owner, time.Minute)
					if err != nil {
						t.Errorf("TryLock: %v", err)
					}
					if ok {
						wins.Add(1)
						winner.Store(owner)
					}
				}()
			}
			close(start)
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("round %d: %d of 16 contenders got the lease; want exactly 1", round, n)
			}
			mustUnlock(t, a, r, winner.Load().(string), lock.Success)
		}
	})
}

func mustLock(t *testing.T, st lock.Store, resource, owner string, expiry time.Duration, want bool) {
	t.Helper()
	got, err := st.TryLock(t.Context(), resource, owner, expiry)
	if err != nil {
		t.Fatalf("TryLock(%s, %s): %v", resource, owner, err)
	}
	if got != want {
		t.Fatalf("TryLock(%s, %s) = %v, want %v", resource, owner, got, want)
	}
}

func mustUnlock(t *testing.T, st lock.Store, resource, owner string, want lock.UnlockStatus) {
	t.Helper()
	got, err := st.Unlock(t.Context(), resource, owner)
	if err != nil {
		t.Fatalf("Unlock(%s, %s): %v", resource, owner, err)
	}
	if got != want {
		t.Fatalf("Unlock(%s, %s) = %v, want %v", resource, owner, got, want)
	}
}

func unique() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
