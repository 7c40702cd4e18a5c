// Package lock is the distributed lock building block: one app's lock
// stores by name, Dapr's key prefixes and checks, and Dapr's errors, for
// both API front ends.
//
// It imports the components registry, the lock store interface, daprerr and
// resiliency; it must not import the sidecar, the hosts or spec.
package lock

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/blocks/named"
	"github.com/cove-env/cove/internal/components"
	clock "github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Dapr's key layout: "lock||<prefix>||<resource>".
const (
	apiPrefix = "lock"
	separator = "||"
)

// Options configure a Service beyond its app id.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Outbound returns the resiliency policy for calls to the named store
	// (nil for none); it is asked once per store, when the store is added.
	Outbound func(store string) *resiliency.Policy
}

// StoreInfo describes one store for the metadata API.
type StoreInfo struct {
	Name, Type, Version string
}

// Service is one app's lock API. It is safe for concurrent use.
type Service struct {
	appID    string
	log      *slog.Logger
	outbound func(store string) *resiliency.Policy

	stores named.Set[*entry]
}

type entry struct {
	info   StoreInfo
	store  clock.Store
	prefix string // "lock||…||" put before every resource id
	policy *resiliency.Policy
}

// New returns a Service for appID with no stores.
func New(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{appID: appID, log: log.With("app", appID, "block", "lock"), outbound: opts.Outbound}
}

// Add makes an initialised store available under md.Name, with the key
// prefix its keyPrefix metadata item chooses. The store stays the caller's.
func (s *Service) Add(md components.Metadata, st clock.Store) error {
	if md.Name == "" || st == nil {
		return fmt.Errorf("lock store %q: a name and a store are required", md.Name)
	}
	strategy := "appid"
	if v, ok := md.Property("keyPrefix"); ok {
		strategy = strings.ToLower(v)
	}
	if strings.Contains(strategy, separator) {
		return fmt.Errorf("lock store %s: metadata keyPrefix %q must not contain %q", md.Name, strategy, separator)
	}
	var prefix string
	switch strategy {
	case "none":
		prefix = apiPrefix + separator
	case "name":
		prefix = apiPrefix + separator + md.Name + separator
	case "appid":
		prefix = apiPrefix + separator + s.appID + separator
	default:
		prefix = apiPrefix + separator + strategy + separator
	}
	e := &entry{info: StoreInfo{Name: md.Name, Type: md.Type, Version: md.Version}, store: st, prefix: prefix}
	if s.outbound != nil {
		e.policy = s.outbound(md.Name)
	}
	if err := s.stores.Add(md.Name, e); err != nil {
		return fmt.Errorf("lock store %w", err)
	}
	return nil
}

// Stores lists the stores by name.
func (s *Service) Stores() []StoreInfo {
	return named.Each(&s.stores, func(e *entry) StoreInfo { return e.info })
}

// TryLockRequest is a TryLockAlpha1 call.
type TryLockRequest struct {
	Store, ResourceID, LockOwner string
	ExpiryInSeconds              int32
}

// UnlockRequest is an UnlockAlpha1 call.
type UnlockRequest struct {
	Store, ResourceID, LockOwner string
}

// TryLock takes the lease, checking the request in daprd's order: the
// expiry, then stores, resource, owner and store name.
func (s *Service) TryLock(ctx context.Context, req TryLockRequest) (bool, error) {
	if req.ExpiryInSeconds <= 0 {
		return false, daprerr.LockExpiryNotPositive(req.Store)
	}
	e, err := s.find(req.Store, req.ResourceID, req.LockOwner)
	if err != nil {
		return false, err
	}
	key, err := e.key(req.ResourceID)
	if err != nil {
		return false, daprerr.Wrap(daprerr.LockTry, err, "failed to try acquiring lock")
	}
	ok, err := resiliency.Call(ctx, e.policy, func(ctx context.Context) (bool, error) {
		return e.store.TryLock(ctx, key, req.LockOwner, time.Duration(req.ExpiryInSeconds)*time.Second)
	})
	if err != nil {
		return false, daprerr.Wrap(daprerr.LockTry, err, "failed to try acquiring lock")
	}
	return ok, nil
}

// Unlock releases the lease. Its status is meaningful only without error;
// with one it is clock.InternalError, as daprd answers.
func (s *Service) Unlock(ctx context.Context, req UnlockRequest) (clock.UnlockStatus, error) {
	e, err := s.find(req.Store, req.ResourceID, req.LockOwner)
	if err != nil {
		return clock.InternalError, err
	}
	key, err := e.key(req.ResourceID)
	if err != nil {
		return clock.InternalError, daprerr.Wrap(daprerr.LockUnlock, err, "failed to release lock")
	}
	st, err := resiliency.Call(ctx, e.policy, func(ctx context.Context) (clock.UnlockStatus, error) {
		return e.store.Unlock(ctx, key, req.LockOwner)
	})
	if err != nil {
		return clock.InternalError, daprerr.Wrap(daprerr.LockUnlock, err, "failed to release lock")
	}
	return st, nil
}

// find checks the request's fields and finds its store.
func (s *Service) find(store, resource, owner string) (*entry, error) {
	e, _ := s.stores.Get(store)
	switch {
	case s.stores.Len() == 0:
		return nil, daprerr.NoLockStores()
	case resource == "":
		return nil, daprerr.New(daprerr.Malformed, "ResourceId is empty in lock store %s", store)
	case owner == "":
		return nil, daprerr.New(daprerr.Malformed, "LockOwner is empty in lock store %s", store)
	case e == nil:
		return nil, daprerr.New(daprerr.LockStoreNotFound, "lock store %s not found", store)
	}
	return e, nil
}

// key is the store's key of resource.
func (e *entry) key(resource string) (string, error) {
	if strings.Contains(resource, separator) {
		return "", fmt.Errorf("input key/keyPrefix '%s' can't contain '%s'", resource, separator)
	}
	return e.prefix + resource, nil
}
