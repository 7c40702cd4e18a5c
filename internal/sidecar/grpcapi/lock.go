package grpcapi

import (
	"context"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/blocks/lock"
	clock "github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/daprerr"
)

// LockAPI is what the gRPC API needs of the lock building block; the
// signatures are those of lock.Service.
type LockAPI interface {
	TryLock(ctx context.Context, req lock.TryLockRequest) (bool, error)
	Unlock(ctx context.Context, req lock.UnlockRequest) (clock.UnlockStatus, error)
}

// TryLockAlpha1 takes a lease; the checks and errors are the block's.
func (a *api) TryLockAlpha1(ctx context.Context, in *runtimev1pb.TryLockRequest) (*runtimev1pb.TryLockResponse, error) {
	if in.GetExpiryInSeconds() <= 0 {
		return nil, daprerr.LockExpiryNotPositive(in.GetStoreName())
	}
	if a.lock == nil {
		return nil, daprerr.NoLockStores()
	}
	ok, err := a.lock.TryLock(ctx, lock.TryLockRequest{
		Store: in.GetStoreName(), ResourceID: in.GetResourceId(), LockOwner: in.GetLockOwner(), ExpiryInSeconds: in.GetExpiryInSeconds(),
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.TryLockResponse{Success: ok}, nil
}

// UnlockAlpha1 releases a lease.
func (a *api) UnlockAlpha1(ctx context.Context, in *runtimev1pb.UnlockRequest) (*runtimev1pb.UnlockResponse, error) {
	if a.lock == nil {
		return nil, daprerr.NoLockStores()
	}
	st, err := a.lock.Unlock(ctx, lock.UnlockRequest{Store: in.GetStoreName(), ResourceID: in.GetResourceId(), LockOwner: in.GetLockOwner()})
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.UnlockResponse{Status: runtimev1pb.UnlockResponse_Status(st)}, nil
}
