// Package lock defines the interface every distributed lock store
// implements. Implementations live in subpackages (inmemory, redis) and
// register with the components registry; the conformance subpackage is the
// one suite they all pass.
//
// Resource ids arrive here already prefixed ("lock||myapp||orders"):
// prefixing is the lock building block's job, not the store's.
package lock

import (
	"context"
	"time"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of lock stores.
const Kind = "lock"

func init() { components.RegisterKind(components.KindOf[Store](Kind)) }

// Store grants leases on named resources. A lease belongs to one owner and
// ends when that owner releases it or when its expiry passes, whichever
// comes first; until then no other owner, and not the owner again, can take
// it.
type Store interface {
	components.Component
	// TryLock takes the lease on resource for owner for expiry, without
	// waiting: false when someone (owner included) holds it. An error means
	// the store could not answer.
	TryLock(ctx context.Context, resource, owner string, expiry time.Duration) (bool, error)
	// Unlock releases owner's lease on resource. The status tells a lease
	// that does not exist (never taken, or expired) from one another owner
	// holds; an error means the store could not answer.
	Unlock(ctx context.Context, resource, owner string) (UnlockStatus, error)
}

// UnlockStatus is the outcome of an Unlock, numbered as Dapr's API numbers
// it (UnlockResponse.Status).
type UnlockStatus int32

// Dapr's unlock statuses.
const (
	Success             UnlockStatus = 0
	LockDoesNotExist    UnlockStatus = 1
	LockBelongsToOthers UnlockStatus = 2
	InternalError       UnlockStatus = 3
)

// String is the status's name in Dapr's proto.
func (s UnlockStatus) String() string {
	switch s {
	case Success:
		return "SUCCESS"
	case LockDoesNotExist:
		return "LOCK_DOES_NOT_EXIST"
	case LockBelongsToOthers:
		return "LOCK_BELONGS_TO_OTHERS"
	}
	return "INTERNAL_ERROR"
}

// RuntimeMetadata holds the metadata keys the lock building block reads
// from a store's component; stores embed it in the struct they decode
// their metadata into, so the keys are not reported unknown.
type RuntimeMetadata struct {
	// KeyPrefix is Dapr's keyPrefix strategy: appid (the default), name,
	// none, or a prefix of its own.
	KeyPrefix string `metadata:"keyPrefix"`
}
