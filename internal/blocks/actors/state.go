package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// Store is the actor state store (a state component marked
// actorStateStore "true").
type Store = cstate.Store

type stateStore struct{ s Store }

// StateOp is one operation of an actor state transaction.
type StateOp struct {
	// Delete deletes Key; otherwise Value is stored under it.
	Delete bool
	Key    string
	Value  []byte
	// Metadata is passed to the store (ttlInSeconds).
	Metadata map[string]string
}

// stateKey is Dapr's key of an actor's state: appid||type||id||key.
func (r *Runtime) stateKey(typ, id, key string) string {
	return r.appID + "||" + typ + "||" + id + "||" + key
}

// checkState is daprd's check before the state API: a store, and the actor
// living on the calling sidecar's host.
func (r *Runtime) checkState(self *Host, typ, id string) error {
	if r.state == nil {
		return daprerr.NoActorStateStore()
	}
	if !r.p.local(self, typ, id) {
		return daprerr.New(daprerr.ActorInstanceMissing, "actor instance is missing")
	}
	return nil
}

// GetState reads one key of an actor's state; nil data when it has none.
// self is the calling sidecar's host (nil when its app hosts no actors).
func (r *Runtime) GetState(ctx context.Context, self *Host, typ, id, key string) ([]byte, error) {
	if err := r.checkState(self, typ, id); err != nil {
		return nil, err
	}
	res, err := r.state.s.Get(ctx, &cstate.GetRequest{Key: r.stateKey(typ, id, key)})
	if err != nil {
		return nil, daprerr.New(daprerr.ActorStateGet, "error getting actor state: %v", err)
	}
	return res.Data, nil
}

// Transact applies an actor's state operations at once.
func (r *Runtime) Transact(ctx context.Context, self *Host, typ, id string, ops []StateOp) error {
	if err := r.checkState(self, typ, id); err != nil {
		return err
	}
	req := &cstate.TransactionRequest{Operations: make([]cstate.Operation, 0, len(ops))}
	for _, op := range ops {
		if op.Key == "" {
			return daprerr.New(daprerr.Malformed, "an actor state operation has no key")
		}
		if v, ok := op.Metadata[cstate.TTLMetadata]; ok {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return daprerr.New(daprerr.Malformed, "actor state key %s: metadata ttlInSeconds %q is not a whole number of seconds", op.Key, v)
			}
		}
		k := r.stateKey(typ, id, op.Key)
		if op.Delete {
			req.Operations = append(req.Operations, cstate.Operation{Delete: &cstate.DeleteRequest{Key: k, Metadata: op.Metadata}})
		} else {
			req.Operations = append(req.Operations, cstate.Operation{Set: &cstate.SetRequest{Key: k, Value: op.Value, Metadata: op.Metadata}})
		}
	}
	if err := r.state.apply(ctx, req); err != nil {
		return daprerr.New(daprerr.ActorStateTransactionSave, "error saving actor transaction state: %v", err)
	}
	return nil
}

// apply runs a transaction, in one where the store has them.
func (s *stateStore) apply(ctx context.Context, req *cstate.TransactionRequest) error {
	if tx, ok := s.s.(cstate.Transactional); ok {
		return tx.Multi(ctx, req)
	}
	var errs []error
	for _, op := range req.Operations {
		var err error
		if op.Set != nil {
			err = s.s.Set(ctx, op.Set)
		} else {
			err = s.s.Delete(ctx, op.Delete)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", keyOf(op), err))
		}
	}
	return errors.Join(errs...)
}

func keyOf(op cstate.Operation) string {
	if op.Set != nil {
		return op.Set.Key
	}
	return op.Delete.Key
}
