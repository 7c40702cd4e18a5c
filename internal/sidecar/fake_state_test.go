package sidecar

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// fakeState is a recording StateAPI: an in-memory map with ETags that
// keeps the last arguments it got, so tests can check how HTTP requests
// translate into block calls. Everything else tests the real block.
type fakeState struct {
	mu     sync.Mutex
	stores []state.StoreInfo
	data   map[string]fakeItem // store + "/" + key
	seq    int

	// lastGet and lastTx record the options the front end passed.
	lastGet   state.GetOptions
	lastTx    []state.TxOperation
	lastTxMD  map[string]string
	lastSaved []state.SaveItem
}

type fakeItem struct {
	value []byte
	etag  string
}

var _ StateAPI = (*fakeState)(nil)

func newFakeState(stores ...state.StoreInfo) *fakeState {
	return &fakeState{stores: stores, data: map[string]fakeItem{}}
}

func (f *fakeState) Stores() []state.StoreInfo { return f.stores }

func (f *fakeState) Check(store string) error { return f.check(store) }

func (f *fakeState) check(store string) error {
	for _, s := range f.stores {
		if s.Name == store {
			return nil
		}
	}
	return daprerr.New(daprerr.StateStoreNotFound, "state store %s is not found", store)
}

func (f *fakeState) Get(_ context.Context, store, key string, opts state.GetOptions) (*state.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(store); err != nil {
		return nil, err
	}
	f.lastGet = opts
	it, ok := f.data[store+"/"+key]
	if !ok {
		return &state.Item{Key: key}, nil
	}
	return &state.Item{Key: key, Value: it.value, ETag: it.etag, Found: true}, nil
}

func (f *fakeState) BulkGet(ctx context.Context, store string, keys []string, _ state.BulkGetOptions) ([]state.BulkItem, error) {
	out := make([]state.BulkItem, 0, len(keys))
	for _, k := range keys {
		it, err := f.Get(ctx, store, k, state.GetOptions{})
		if err != nil {
			return nil, err
		}
		out = append(out, state.BulkItem{Key: k, Value: it.Value, ETag: it.ETag, Found: it.Found})
	}
	return out, nil
}

func (f *fakeState) etagOK(store, key string, etag *string) bool {
	if etag == nil {
		return true
	}
	it, ok := f.data[store+"/"+key]
	return ok && it.etag == *etag
}

func (f *fakeState) Save(_ context.Context, store string, items []state.SaveItem) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(store); err != nil {
		return err
	}
	f.lastSaved = items
	for _, it := range items {
		if !f.etagOK(store, it.Key, it.ETag) {
			return daprerr.New(daprerr.StateSave, "failed saving state in state store %s: possible etag mismatch", store).
				WithStatus(http.StatusConflict, codes.Aborted)
		}
		f.seq++
		f.data[store+"/"+it.Key] = fakeItem{value: it.Value, etag: strconv.Itoa(f.seq)}
	}
	return nil
}

func (f *fakeState) Delete(_ context.Context, store string, item state.DeleteItem) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(store); err != nil {
		return err
	}
	if !f.etagOK(store, item.Key, item.ETag) {
		return daprerr.New(daprerr.StateDelete, "failed deleting state with key %s: possible etag mismatch", item.Key).
			WithStatus(http.StatusConflict, codes.Aborted)
	}
	delete(f.data, store+"/"+item.Key)
	return nil
}

func (f *fakeState) Transact(ctx context.Context, store string, ops []state.TxOperation, md map[string]string) error {
	f.mu.Lock()
	f.lastTx, f.lastTxMD = ops, md
	f.mu.Unlock()
	for _, op := range ops {
		var err error
		switch op.Operation {
		case "upsert":
			err = f.Save(ctx, store, []state.SaveItem{op.Save})
		case "delete":
			err = f.Delete(ctx, store, op.Delete)
		default:
			err = daprerr.New(daprerr.BadRequest, "operation type %s not supported", op.Operation)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Query answers as the block does for a store without queries: the fake
// records translations only; queries are tested against the real block.
func (f *fakeState) Query(_ context.Context, store string, _ []byte, _ map[string]string) (*state.QueryResponse, error) {
	if err := f.check(store); err != nil {
		return nil, err
	}
	return nil, daprerr.New(daprerr.StateStoreNotSupported, "state store %s does not support querying", store)
}
