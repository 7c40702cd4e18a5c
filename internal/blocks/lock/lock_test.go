package lock_test

import (
	"errors"
	"testing"

	"github.com/cove-env/cove/internal/blocks/lock"
	"github.com/cove-env/cove/internal/components"
	clock "github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/components/lock/inmemory"
	"github.com/cove-env/cove/internal/daprerr"
)

// twoApps adds one shared in-memory store to the lock blocks of apps a
// and b, as one component in both apps' scopes.
func twoApps(t *testing.T, props map[string]string) (a, b *lock.Service) {
	t.Helper()
	md := components.Metadata{Name: "locks", Type: inmemory.Type, Version: "v1", Properties: props}
	st := inmemory.New()
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	a, b = lock.New("a", lock.Options{}), lock.New("b", lock.Options{})
	for _, s := range []*lock.Service{a, b} {
		if err := s.Add(md, st); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestKeyPrefix(t *testing.T) {
	for _, c := range []struct {
		prefix string
		shared bool // whether both apps contend for one lease
	}{
		{"", false}, {"appid", false}, {"AppID", false}, {"name", true}, {"none", true}, {"team", true},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			a, b := twoApps(t, map[string]string{"keyPrefix": c.prefix})
			req := lock.TryLockRequest{Store: "locks", ResourceID: "orders", LockOwner: "x", ExpiryInSeconds: 60}
			if ok, err := a.TryLock(t.Context(), req); !ok || err != nil {
				t.Fatalf("a: TryLock = %v, %v", ok, err)
			}
			req.LockOwner = "y"
			ok, err := b.TryLock(t.Context(), req)
			if err != nil || ok == c.shared {
				t.Fatalf("b: TryLock = %v, %v; want %v", ok, err, !c.shared)
			}
		})
	}
}

func TestAddRefusesSeparatorInPrefix(t *testing.T) {
	s := lock.New("a", lock.Options{})
	err := s.Add(components.Metadata{Name: "locks", Properties: map[string]string{"keyPrefix": "x||y"}}, inmemory.New())
	if err == nil {
		t.Fatal("Add with keyPrefix x||y succeeded")
	}
}

func TestErrors(t *testing.T) {
	empty := lock.New("a", lock.Options{})
	_, err := empty.TryLock(t.Context(), lock.TryLockRequest{Store: "locks", ResourceID: "r", LockOwner: "o", ExpiryInSeconds: 1})
	wantKind(t, err, daprerr.LockStoresNotConfigured)
	st, err := empty.Unlock(t.Context(), lock.UnlockRequest{Store: "locks", ResourceID: "r", LockOwner: "o"})
	wantKind(t, err, daprerr.LockStoresNotConfigured)
	if st != clock.InternalError {
		t.Errorf("status with an error = %v, want INTERNAL_ERROR as daprd", st)
	}
	a, _ := twoApps(t, nil)
	_, err = a.TryLock(t.Context(), lock.TryLockRequest{Store: "locks", ResourceID: "r", LockOwner: "o", ExpiryInSeconds: 0})
	wantKind(t, err, daprerr.Malformed)
	_, err = a.Unlock(t.Context(), lock.UnlockRequest{Store: "other", ResourceID: "r", LockOwner: "o"})
	wantKind(t, err, daprerr.LockStoreNotFound)
	_, err = a.Unlock(t.Context(), lock.UnlockRequest{Store: "locks", ResourceID: "a||b", LockOwner: "o"})
	wantKind(t, err, daprerr.LockUnlock)
}

func wantKind(t *testing.T, err error, kind daprerr.Kind) {
	t.Helper()
	var e *daprerr.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("error %v, want %s", err, kind.Code)
	}
}
