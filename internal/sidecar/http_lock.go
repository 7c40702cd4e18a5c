package sidecar

import (
	"context"
	"io"
	"net/http"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cove-env/cove/internal/blocks/lock"
	clock "github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/daprerr"
)

// LockAPI is what the sidecar needs of the lock building block; the
// signatures are those of lock.Service.
type LockAPI interface {
	Stores() []lock.StoreInfo
	TryLock(ctx context.Context, req lock.TryLockRequest) (bool, error)
	Unlock(ctx context.Context, req lock.UnlockRequest) (clock.UnlockStatus, error)
}

// lockAPI is the configured block, or daprd's error without a lock store.
func (s *Sidecar) lockAPI() (LockAPI, error) {
	if s.cfg.Lock == nil {
		return nil, daprerr.NoLockStores()
	}
	return s.cfg.Lock, nil
}

// tryLock answers POST /v1.0-alpha1/lock/{store}: {"success":bool}.
func (s *Sidecar) tryLock(w http.ResponseWriter, r *http.Request) error {
	var in runtimev1pb.TryLockRequest
	if err := readProtoJSON(r, &in); err != nil {
		return err
	}
	store := r.PathValue("store")
	if in.GetExpiryInSeconds() <= 0 {
		// Checked before the store, as daprd does.
		return daprerr.LockExpiryNotPositive(store)
	}
	api, err := s.lockAPI()
	if err != nil {
		return err
	}
	ok, err := api.TryLock(r.Context(), lock.TryLockRequest{
		Store: store, ResourceID: in.GetResourceId(), LockOwner: in.GetLockOwner(), ExpiryInSeconds: in.GetExpiryInSeconds(),
	})
	if err != nil {
		return err
	}
	return writeProtoJSON(w, &runtimev1pb.TryLockResponse{Success: ok})
}

// unlock answers POST /v1.0-alpha1/unlock/{store}: {"status":n}, the
// status as a number, as daprd writes it.
func (s *Sidecar) unlock(w http.ResponseWriter, r *http.Request) error {
	var in runtimev1pb.UnlockRequest
	if err := readProtoJSON(r, &in); err != nil {
		return err
	}
	api, err := s.lockAPI()
	if err != nil {
		return err
	}
	st, err := api.Unlock(r.Context(), lock.UnlockRequest{
		Store: r.PathValue("store"), ResourceID: in.GetResourceId(), LockOwner: in.GetLockOwner(),
	})
	if err != nil {
		return err
	}
	return writeProtoJSON(w, &runtimev1pb.UnlockResponse{Status: runtimev1pb.UnlockResponse_Status(st)})
}

// readProtoJSON reads a body into a request message as daprd's universal
// handlers do: protojson, unknown fields ignored, an empty body leaving
// every field unset.
func readProtoJSON(r *http.Request, in proto.Message) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // a body over the limit is told apart by writeError
	}
	if len(body) == 0 {
		return nil
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true, AllowPartial: true}).Unmarshal(body, in); err != nil {
		return daprerr.New(daprerr.Malformed, "failed deserializing HTTP body: %v", err)
	}
	return nil
}

// writeProtoJSON writes a response message with every field present and
// enums as numbers, as daprd's lock and configuration handlers do.
func writeProtoJSON(w http.ResponseWriter, out proto.Message) error {
	body, err := protojson.MarshalOptions{EmitUnpopulated: true, UseEnumNumbers: true}.Marshal(out)
	if err != nil {
		return daprerr.Wrap(daprerr.Internal, err, "failed to encode the response: %v", err)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
