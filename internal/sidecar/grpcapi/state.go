package grpcapi

import (
	"context"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/sidecar/statevalue"
)

// The state RPCs only translate: checking stores, keys and options is the
// block's job, so both front ends reject the same requests the same way.

// contentTypeKey is the state metadata key naming a value's content type.
const contentTypeKey = "contentType"

func (a *api) stateAPI(store string) (StateAPI, error) {
	if a.state == nil {
		return nil, daprerr.New(daprerr.StateStoresNotConfigured, "state store %s is not configured", store)
	}
	return a.state, nil
}

// GetState reads one key; a missing key is an empty response.
func (a *api) GetState(ctx context.Context, in *runtimev1pb.GetStateRequest) (*runtimev1pb.GetStateResponse, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	item, err := st.Get(ctx, in.GetStoreName(), in.GetKey(), state.GetOptions{
		Consistency: consistency(in.GetConsistency()),
		Metadata:    in.GetMetadata(),
	})
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.GetStateResponse{}
	if item != nil && item.Found {
		out.Data, out.Etag, out.Metadata = item.Value, item.ETag, item.Metadata
	}
	return out, nil
}

// GetBulkState reads keys; a key that failed carries its error.
func (a *api) GetBulkState(ctx context.Context, in *runtimev1pb.GetBulkStateRequest) (*runtimev1pb.GetBulkStateResponse, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	items, err := st.BulkGet(ctx, in.GetStoreName(), in.GetKeys(), state.BulkGetOptions{
		Parallelism: int(in.GetParallelism()),
		Metadata:    in.GetMetadata(),
	})
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.GetBulkStateResponse{Items: make([]*runtimev1pb.BulkStateItem, len(items))}
	for i, it := range items {
		bi := &runtimev1pb.BulkStateItem{Key: it.Key, Error: it.Error}
		if it.Error == "" && it.Found {
			bi.Data, bi.Etag, bi.Metadata = it.Value, it.ETag, it.Metadata
		}
		out.Items[i] = bi
	}
	return out, nil
}

// QueryStateAlpha1 runs a query in Dapr's query language; the block parses
// and checks it, as for the HTTP API.
func (a *api) QueryStateAlpha1(ctx context.Context, in *runtimev1pb.QueryStateRequest) (*runtimev1pb.QueryStateResponse, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	resp, err := st.Query(ctx, in.GetStoreName(), []byte(in.GetQuery()), in.GetMetadata())
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.QueryStateResponse{}
	if resp == nil {
		return out, nil
	}
	out.Token, out.Metadata = resp.Token, resp.Metadata
	for _, it := range resp.Results {
		out.Results = append(out.Results, &runtimev1pb.QueryStateItem{Key: it.Key, Data: it.Data, Etag: it.ETag, Error: it.Error})
	}
	return out, nil
}

// SaveState writes keys. Values are stored as sent, except that a value
// whose metadata says contentType application/json is stored as daprd
// stores JSON, the same bytes the HTTP API stores for it.
func (a *api) SaveState(ctx context.Context, in *runtimev1pb.SaveStateRequest) (*emptypb.Empty, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	items := make([]state.SaveItem, len(in.GetStates()))
	for i, s := range in.GetStates() {
		value := s.GetValue()
		if s.GetMetadata()[contentTypeKey] == "application/json" {
			if value, err = statevalue.FromJSON(value); err != nil {
				return nil, daprerr.Wrap(daprerr.Malformed, err, "value of key %s is not JSON", s.GetKey())
			}
		}
		items[i] = saveItem(s, value)
	}
	if err := st.Save(ctx, in.GetStoreName(), items); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func saveItem(s *commonv1pb.StateItem, value []byte) state.SaveItem {
	it := state.SaveItem{
		Key:         s.GetKey(),
		Value:       value,
		Metadata:    s.GetMetadata(),
		Concurrency: concurrency(s.GetOptions().GetConcurrency()),
		Consistency: consistency(s.GetOptions().GetConsistency()),
	}
	if s.GetEtag() != nil {
		etag := s.GetEtag().GetValue()
		it.ETag = &etag
	}
	return it
}

func deleteItem(s *commonv1pb.StateItem) state.DeleteItem {
	it := state.DeleteItem{
		Key:         s.GetKey(),
		Metadata:    s.GetMetadata(),
		Concurrency: concurrency(s.GetOptions().GetConcurrency()),
		Consistency: consistency(s.GetOptions().GetConsistency()),
	}
	if s.GetEtag() != nil {
		etag := s.GetEtag().GetValue()
		it.ETag = &etag
	}
	return it
}

// DeleteState deletes one key; an ETag makes it conditional.
func (a *api) DeleteState(ctx context.Context, in *runtimev1pb.DeleteStateRequest) (*emptypb.Empty, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	err = st.Delete(ctx, in.GetStoreName(), deleteItem(&commonv1pb.StateItem{
		Key: in.GetKey(), Etag: in.GetEtag(), Metadata: in.GetMetadata(), Options: in.GetOptions(),
	}))
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// DeleteBulkState deletes keys one after the other, stopping at the first
// failure; like daprd's, it is not atomic.
func (a *api) DeleteBulkState(ctx context.Context, in *runtimev1pb.DeleteBulkStateRequest) (*emptypb.Empty, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	for _, s := range in.GetStates() {
		if err := st.Delete(ctx, in.GetStoreName(), deleteItem(s)); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// ExecuteStateTransaction applies operations atomically. Upserted values
// are stored as sent, whatever their metadata, as daprd does.
func (a *api) ExecuteStateTransaction(ctx context.Context, in *runtimev1pb.ExecuteStateTransactionRequest) (*emptypb.Empty, error) {
	st, err := a.stateAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	ops := make([]state.TxOperation, len(in.GetOperations()))
	for i, op := range in.GetOperations() {
		req := op.GetRequest()
		ops[i].Operation = op.GetOperationType()
		switch op.GetOperationType() {
		case "upsert":
			ops[i].Save = saveItem(req, req.GetValue())
		case "delete":
			ops[i].Delete = deleteItem(req)
		default:
			// The block rejects it, as it does for the HTTP API.
			ops[i].Save.Key, ops[i].Delete.Key = req.GetKey(), req.GetKey()
		}
	}
	if err := st.Transact(ctx, in.GetStoreName(), ops, in.GetMetadata()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// consistency and concurrency name the options as the state block does.
func consistency(c commonv1pb.StateOptions_StateConsistency) string {
	switch c {
	case commonv1pb.StateOptions_CONSISTENCY_EVENTUAL:
		return "eventual"
	case commonv1pb.StateOptions_CONSISTENCY_STRONG:
		return "strong"
	}
	return ""
}

func concurrency(c commonv1pb.StateOptions_StateConcurrency) string {
	switch c {
	case commonv1pb.StateOptions_CONCURRENCY_FIRST_WRITE:
		return "first-write"
	case commonv1pb.StateOptions_CONCURRENCY_LAST_WRITE:
		return "last-write"
	}
	return ""
}
