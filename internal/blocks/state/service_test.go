package state_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/inmemory"
	"github.com/cove-env/cove/internal/daprerr"
)

func newMemStore(t *testing.T) *inmemory.Store {
	t.Helper()
	s := inmemory.New()
	if err := s.Init(t.Context(), components.Metadata{Name: "mem"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func md(name string, props map[string]string) components.Metadata {
	return components.Metadata{Name: name, Type: inmemory.Type, Version: "v1", Properties: props}
}

// newService returns a service for app "myapp" with an in-memory store
// "store" and the store itself, to look at the keys it receives.
func newService(t *testing.T) (*state.Service, *inmemory.Store) {
	t.Helper()
	mem := newMemStore(t)
	svc := state.New("myapp")
	if err := svc.Add(md("store", nil), mem); err != nil {
		t.Fatal(err)
	}
	return svc, mem
}

// wantErr checks that err is a *daprerr.Error with the code and statuses.
func wantErr(t *testing.T, err error, code string, httpStatus int, grpcCode codes.Code) *daprerr.Error {
	t.Helper()
	var de *daprerr.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *daprerr.Error", err, err)
	}
	got := [3]any{de.Kind.Code, de.Status(), de.Code()}
	want := [3]any{code, httpStatus, grpcCode}
	if got != want {
		t.Fatalf("error %q: got (code, http, grpc) %v, want %v", de.Error(), got, want)
	}
	return de
}

func rawGet(t *testing.T, s cstate.Store, key string) string {
	t.Helper()
	resp, err := s.Get(t.Context(), &cstate.GetRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return string(resp.Data)
}

func TestKeyPrefix(t *testing.T) {
	tests := []struct {
		name      string
		appID     string
		namespace string
		props     map[string]string
		wantKey   string
	}{
		{name: "default is the app id", appID: "myapp", wantKey: "myapp||k"},
		{name: "appid", appID: "myapp", props: map[string]string{"keyPrefix": "appid"}, wantKey: "myapp||k"},
		{name: "appid without an app id", props: map[string]string{"keyPrefix": "appid"}, wantKey: "k"},
		{name: "name", appID: "myapp", props: map[string]string{"keyPrefix": "name"}, wantKey: "store||k"},
		{name: "none", appID: "myapp", props: map[string]string{"keyPrefix": "none"}, wantKey: "k"},
		{name: "literal prefix is lower-cased", appID: "myapp", props: map[string]string{"keyPrefix": "Shared"}, wantKey: "shared||k"},
		{name: "metadata name in any case", appID: "myapp", props: map[string]string{"KEYPREFIX": "NONE"}, wantKey: "k"},
		{name: "namespace", appID: "myapp", namespace: "prod", props: map[string]string{"keyPrefix": "namespace"}, wantKey: "prod.myapp||k"},
		{name: "namespace unset falls back to appid", appID: "myapp", props: map[string]string{"keyPrefix": "namespace"}, wantKey: "myapp||k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemStore(t)
			svc := state.NewWithOptions(tt.appID, state.Options{Namespace: tt.namespace})
			if err := svc.Add(md("store", tt.props), mem); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if err := svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte(`"v"`)}}); err != nil {
				t.Fatalf("save: %v", err)
			}
			if got := rawGet(t, mem, tt.wantKey); got != `"v"` {
				t.Fatalf("store key %q holds %q, want the saved value", tt.wantKey, got)
			}
			item, err := svc.Get(ctx, "store", "k", state.GetOptions{})
			if err != nil || !item.Found || string(item.Value) != `"v"` || item.Key != "k" {
				t.Fatalf("get = %+v, %v", item, err)
			}
			bulk, err := svc.BulkGet(ctx, "store", []string{"k"}, state.BulkGetOptions{})
			if err != nil || len(bulk) != 1 || bulk[0].Key != "k" || !bulk[0].Found {
				t.Fatalf("bulk get = %+v, %v", bulk, err)
			}
			if err := svc.Delete(ctx, "store", state.DeleteItem{Key: "k"}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if got := rawGet(t, mem, tt.wantKey); got != "" {
				t.Fatalf("store key %q still holds %q after delete", tt.wantKey, got)
			}
		})
	}
}

// TestAppsAreIsolated checks that two apps sharing one store see only
// their own keys under the default prefix.
func TestAppsAreIsolated(t *testing.T) {
	mem := newMemStore(t)
	a, b := state.New("a"), state.New("b")
	for _, svc := range []*state.Service{a, b} {
		if err := svc.Add(md("store", nil), mem); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Save(t.Context(), "store", []state.SaveItem{{Key: "k", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	item, err := b.Get(t.Context(), "store", "k", state.GetOptions{})
	if err != nil || item.Found {
		t.Fatalf("app b sees app a's key: %+v, %v", item, err)
	}
}

func TestAddErrors(t *testing.T) {
	mem := newMemStore(t)
	svc := state.New("myapp")
	if err := svc.Add(md("store", nil), mem); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		md    components.Metadata
		store cstate.Store
		code  string
	}{
		{"duplicate name", md("store", nil), mem, "ERR_BAD_REQUEST"},
		{"no name", md("", nil), mem, "ERR_BAD_REQUEST"},
		{"no store", md("other", nil), nil, "ERR_BAD_REQUEST"},
		{"prefix with separator", md("other", map[string]string{"keyPrefix": "a||b"}), mem, "ERR_MALFORMED_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.Add(tt.md, tt.store)
			var de *daprerr.Error
			if !errors.As(err, &de) || de.Kind.Code != tt.code {
				t.Fatalf("add error = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestStores(t *testing.T) {
	svc := state.New("myapp")
	if err := svc.Add(md("zeta", nil), newMemStore(t)); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(components.Metadata{Name: "alpha", Type: "state.plain", Version: "v2"}, plain{newMemStore(t)}); err != nil {
		t.Fatal(err)
	}
	want := []state.StoreInfo{
		{Name: "alpha", Type: "state.plain", Version: "v2", Capabilities: []string{"ETAG"}},
		{Name: "zeta", Type: inmemory.Type, Version: "v1", Capabilities: []string{"ETAG", "TRANSACTIONAL", "TTL", "ACTOR"}},
	}
	if diff := cmp.Diff(want, svc.Stores()); diff != "" {
		t.Fatalf("stores (-want +got):\n%s", diff)
	}
}

// plain hides the in-memory store's transactions and TTLs: a store with
// ETags only.
type plain struct{ s *inmemory.Store }

func (p plain) Init(ctx context.Context, md components.Metadata) error { return p.s.Init(ctx, md) }
func (p plain) Features() []cstate.Feature                             { return []cstate.Feature{cstate.FeatureETag} }
func (p plain) Get(ctx context.Context, r *cstate.GetRequest) (*cstate.GetResponse, error) {
	return p.s.Get(ctx, r)
}
func (p plain) Set(ctx context.Context, r *cstate.SetRequest) error       { return p.s.Set(ctx, r) }
func (p plain) Delete(ctx context.Context, r *cstate.DeleteRequest) error { return p.s.Delete(ctx, r) }
func (p plain) Close() error                                              { return p.s.Close() }

// failing is a store whose every call fails, as a store with a lost
// backend does.
type failing struct{ cstate.Store }

var errBackend = errors.New("backend unreachable")

func (failing) Features() []cstate.Feature {
	return []cstate.Feature{cstate.FeatureETag, cstate.FeatureTransactional}
}
func (failing) Get(context.Context, *cstate.GetRequest) (*cstate.GetResponse, error) {
	return nil, errBackend
}
func (failing) Set(context.Context, *cstate.SetRequest) error           { return errBackend }
func (failing) Delete(context.Context, *cstate.DeleteRequest) error     { return errBackend }
func (failing) Multi(context.Context, *cstate.TransactionRequest) error { return errBackend }
func (failing) Init(context.Context, components.Metadata) error         { return nil }
func (failing) Close() error                                            { return nil }

// TestErrors checks every error code the block answers with, with the
// HTTP and gRPC statuses daprd uses.
func TestErrors(t *testing.T) {
	ctx := t.Context()
	svc, mem := newService(t)
	if err := svc.Add(md("plain", nil), plain{newMemStore(t)}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(md("broken", nil), failing{}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	current, err := svc.Get(ctx, "store", "k", state.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := "1" + current.ETag // a well-formed version that is not the current one
	bad := "not-a-version"
	empty := state.New("myapp")

	tests := []struct {
		name     string
		call     func() error
		code     string
		http     int
		grpc     codes.Code
		inMsg    string
		keepsVal bool
	}{
		{"no stores configured", func() error { _, err := empty.Get(ctx, "store", "k", state.GetOptions{}); return err },
			"ERR_STATE_STORE_NOT_CONFIGURED", 500, codes.FailedPrecondition, "state store store is not configured", false},
		{"unknown store on get", func() error { _, err := svc.Get(ctx, "nope", "k", state.GetOptions{}); return err },
			"ERR_STATE_STORE_NOT_FOUND", 400, codes.InvalidArgument, "state store nope is not found", false},
		{"unknown store on save", func() error { return svc.Save(ctx, "nope", []state.SaveItem{{Key: "k"}}) },
			"ERR_STATE_STORE_NOT_FOUND", 400, codes.InvalidArgument, "state store nope is not found", false},
		{"unknown store on delete", func() error { return svc.Delete(ctx, "nope", state.DeleteItem{Key: "k"}) },
			"ERR_STATE_STORE_NOT_FOUND", 400, codes.InvalidArgument, "state store nope is not found", false},
		{"unknown store on bulk get", func() error { _, err := svc.BulkGet(ctx, "nope", []string{"k"}, state.BulkGetOptions{}); return err },
			"ERR_STATE_STORE_NOT_FOUND", 400, codes.InvalidArgument, "state store nope is not found", false},
		{"unknown store on transaction", func() error { return svc.Transact(ctx, "nope", nil, nil) },
			"ERR_STATE_STORE_NOT_FOUND", 400, codes.InvalidArgument, "state store nope is not found", false},
		{"separator in get key", func() error { _, err := svc.Get(ctx, "store", "a||b", state.GetOptions{}); return err },
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "can't contain '||'", false},
		{"separator in save key", func() error { return svc.Save(ctx, "store", []state.SaveItem{{Key: "k"}, {Key: "x||y"}}) },
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "x||y", true},
		{"separator in delete key", func() error { return svc.Delete(ctx, "store", state.DeleteItem{Key: "a||k"}) },
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "can't contain", false},
		{"separator in bulk key", func() error {
			_, err := svc.BulkGet(ctx, "store", []string{"k", "a||b"}, state.BulkGetOptions{})
			return err
		},
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "can't contain", false},
		{"separator in transaction key", func() error {
			return svc.Transact(ctx, "store", []state.TxOperation{{Operation: "delete", Delete: state.DeleteItem{Key: "k"}}, {Operation: "upsert", Save: state.SaveItem{Key: "a||b"}}}, nil)
		}, "ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "can't contain", true},
		{"empty key", func() error { return svc.Save(ctx, "store", []state.SaveItem{{Key: ""}}) },
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, `"key" is a required field`, false},
		{"empty get key", func() error { _, err := svc.Get(ctx, "store", "", state.GetOptions{}); return err },
			"ERR_MALFORMED_REQUEST", 400, codes.InvalidArgument, "required", false},
		{"save with a stale etag", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), ETag: &stale}})
		},
			"ERR_STATE_SAVE", http.StatusConflict, codes.Aborted, "failed saving state in state store store: possible etag mismatch", true},
		{"save with a malformed etag", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), ETag: &bad}})
		},
			"ERR_STATE_SAVE", http.StatusBadRequest, codes.InvalidArgument, "invalid etag value", true},
		{"save of several with a malformed and a stale etag", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), ETag: &stale}, {Key: "k", Value: []byte("3"), ETag: &bad}})
		}, "ERR_STATE_SAVE", http.StatusBadRequest, codes.InvalidArgument, "key k", true},
		{"first-write on an existing key", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), Concurrency: cstate.FirstWrite}})
		}, "ERR_STATE_SAVE", http.StatusConflict, codes.Aborted, "first-write", true},
		{"save with an unknown concurrency", func() error { return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Concurrency: "most-writes"}}) },
			"ERR_STATE_SAVE", 400, codes.InvalidArgument, "invalid concurrency", true},
		{"save with a ttl that is not a number", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), Metadata: map[string]string{"ttlInSeconds": "abc"}}})
		}, "ERR_STATE_SAVE", 400, codes.InvalidArgument, `"ttlInSeconds": "abc"`, true},
		{"save of several, one with a negative ttl", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2")}, {Key: "j", Metadata: map[string]string{"ttlInSeconds": "-5"}}})
		}, "ERR_STATE_SAVE", 400, codes.InvalidArgument, `"ttlInSeconds": "-5"`, true},
		{"save with a ttl out of range", func() error {
			return svc.Save(ctx, "store", []state.SaveItem{{Key: "k", Value: []byte("2"), Metadata: map[string]string{"ttlInSeconds": "1e18"}}})
		}, "ERR_STATE_SAVE", 400, codes.InvalidArgument, `"ttlInSeconds": "1e18"`, true},
		{"transaction with a bad ttl", func() error {
			return svc.Transact(ctx, "store", []state.TxOperation{{Operation: "upsert", Save: state.SaveItem{Key: "k", Value: []byte("2"), Metadata: map[string]string{"ttlInSeconds": "1000000000000000000"}}}}, nil)
		}, "ERR_STATE_TRANSACTION", 400, codes.InvalidArgument, "ttlInSeconds", true},
		{"transaction with an unknown concurrency", func() error {
			return svc.Transact(ctx, "store", []state.TxOperation{{Operation: "delete", Delete: state.DeleteItem{Key: "k", Concurrency: "bogus"}}}, nil)
		}, "ERR_STATE_TRANSACTION", 400, codes.InvalidArgument, `invalid concurrency "bogus"`, true},
		{"delete with a stale etag", func() error { return svc.Delete(ctx, "store", state.DeleteItem{Key: "k", ETag: &stale}) },
			"ERR_STATE_DELETE", http.StatusConflict, codes.Aborted, "failed deleting state with key k: possible etag mismatch", true},
		{"delete with a malformed etag", func() error { return svc.Delete(ctx, "store", state.DeleteItem{Key: "k", ETag: &bad}) },
			"ERR_STATE_DELETE", http.StatusBadRequest, codes.InvalidArgument, "invalid etag value", true},
		{"delete with an unknown consistency", func() error { return svc.Delete(ctx, "store", state.DeleteItem{Key: "k", Consistency: "sometimes"}) },
			"ERR_STATE_DELETE", 400, codes.InvalidArgument, "invalid consistency", true},
		{"transaction on a store without transactions", func() error {
			return svc.Transact(ctx, "plain", []state.TxOperation{{Operation: "upsert", Save: state.SaveItem{Key: "k"}}}, nil)
		}, "ERR_STATE_STORE_NOT_SUPPORTED", 500, codes.Unimplemented, "state store plain doesn't support transactions", false},
		{"transaction with an unknown operation", func() error {
			return svc.Transact(ctx, "store", []state.TxOperation{{Operation: "upsert", Save: state.SaveItem{Key: "k"}}, {Operation: "merge"}}, nil)
		}, "ERR_NOT_SUPPORTED_STATE_OPERATION", 400, codes.InvalidArgument, "operation type merge not supported", true},
		{"transaction with a stale etag", func() error {
			return svc.Transact(ctx, "store", []state.TxOperation{{Operation: "upsert", Save: state.SaveItem{Key: "k", Value: []byte("9"), ETag: &stale}}}, nil)
		}, "ERR_STATE_TRANSACTION", 500, codes.Internal, "error while executing state transaction: operation 0: possible etag mismatch", true},
		{"store failure on get", func() error { _, err := svc.Get(ctx, "broken", "k", state.GetOptions{}); return err },
			"ERR_STATE_GET", 500, codes.Internal, "fail to get k from state store broken: backend unreachable", false},
		{"store failure on save", func() error { return svc.Save(ctx, "broken", []state.SaveItem{{Key: "k"}}) },
			"ERR_STATE_SAVE", 500, codes.Internal, "backend unreachable", false},
		{"store failure on delete", func() error { return svc.Delete(ctx, "broken", state.DeleteItem{Key: "k"}) },
			"ERR_STATE_DELETE", 500, codes.Internal, "backend unreachable", false},
		{"store failure on transaction", func() error {
			return svc.Transact(ctx, "broken", []state.TxOperation{{Operation: "delete", Delete: state.DeleteItem{Key: "k"}}}, nil)
		}, "ERR_STATE_TRANSACTION", 500, codes.Internal, "backend unreachable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			de := wantErr(t, tt.call(), tt.code, tt.http, tt.grpc)
			if !strings.Contains(de.Message, tt.inMsg) {
				t.Fatalf("message %q does not contain %q", de.Message, tt.inMsg)
			}
			if tt.keepsVal {
				if got := rawGet(t, mem, "myapp||k"); got != "1" {
					t.Fatalf("a rejected call changed the value to %q", got)
				}
			}
		})
	}
	// The cause stays reachable for logs and errors.Is.
	if _, err := svc.Get(ctx, "broken", "k", state.GetOptions{}); !errors.Is(err, errBackend) {
		t.Fatalf("get error %v does not wrap the store's error", err)
	}
}

func TestSaveGetDelete(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	items := []state.SaveItem{
		{Key: "a", Value: []byte(`{"n":1}`)},
		{Key: "b", Value: []byte(`"two"`), Metadata: map[string]string{"ttlInSeconds": "60"}},
	}
	if err := svc.Save(ctx, "store", items); err != nil {
		t.Fatalf("save: %v", err)
	}
	a, err := svc.Get(ctx, "store", "a", state.GetOptions{Consistency: cstate.Strong})
	if err != nil || !a.Found || string(a.Value) != `{"n":1}` || a.ETag == "" {
		t.Fatalf("get a = %+v, %v", a, err)
	}
	b, err := svc.Get(ctx, "store", "b", state.GetOptions{})
	if err != nil || b.Metadata["ttlExpireTime"] == "" {
		t.Fatalf("get b = %+v, %v; want ttlExpireTime", b, err)
	}
	missing, err := svc.Get(ctx, "store", "nope", state.GetOptions{})
	if err != nil || missing.Found || missing.Key != "nope" {
		t.Fatalf("get missing = %+v, %v", missing, err)
	}
	// The current ETag makes a conditional save and delete succeed; an
	// empty one is no condition at all.
	if err := svc.Save(ctx, "store", []state.SaveItem{{Key: "a", Value: []byte("2"), ETag: &a.ETag}}); err != nil {
		t.Fatalf("save with the current etag: %v", err)
	}
	if err := svc.Delete(ctx, "store", state.DeleteItem{Key: "a", ETag: new("")}); err != nil {
		t.Fatalf("delete with an empty etag: %v", err)
	}
	if got, _ := svc.Get(ctx, "store", "a", state.GetOptions{}); got.Found {
		t.Fatal("deleted key still found")
	}
	// A save of several keys writes them all even when one fails.
	err = svc.Save(ctx, "store", []state.SaveItem{{Key: "c", Value: []byte("3")}, {Key: "b", Value: []byte("x"), ETag: new("12345")}})
	wantErr(t, err, "ERR_STATE_SAVE", http.StatusConflict, codes.Aborted)
	if c, _ := svc.Get(ctx, "store", "c", state.GetOptions{}); !c.Found {
		t.Fatal("the item without a conflict was not saved")
	}
}

func TestTransact(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if err := svc.Save(ctx, "store", []state.SaveItem{{Key: "old", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Transact(ctx, "store", nil, nil); err != nil {
		t.Fatalf("empty transaction: %v", err)
	}
	ops := []state.TxOperation{
		{Operation: "upsert", Save: state.SaveItem{Key: "new", Value: []byte("2")}},
		{Operation: "delete", Delete: state.DeleteItem{Key: "old"}},
	}
	if err := svc.Transact(ctx, "store", ops, map[string]string{"partitionKey": "p"}); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	bulk, err := svc.BulkGet(ctx, "store", []string{"new", "old"}, state.BulkGetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{bulk[0].Key: bulk[0].Found, bulk[1].Key: bulk[1].Found}
	if diff := cmp.Diff(map[string]bool{"new": true, "old": false}, got); diff != "" {
		t.Fatalf("found after the transaction (-want +got):\n%s", diff)
	}
}

func TestBulkGet(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if err := svc.Save(ctx, "store", []state.SaveItem{{Key: "a", Value: []byte("1")}, {Key: "c", Value: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	items, err := svc.BulkGet(ctx, "store", []string{"a", "b", "c"}, state.BulkGetOptions{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	type short struct {
		Key, Value string
		Found      bool
		HasETag    bool
	}
	var got []short
	for _, it := range items {
		got = append(got, short{it.Key, string(it.Value), it.Found, it.ETag != ""})
	}
	want := []short{{"a", "1", true, true}, {"b", "", false, false}, {"c", "3", true, true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("bulk get (-want +got):\n%s", diff)
	}
	if items, err := svc.BulkGet(ctx, "store", nil, state.BulkGetOptions{}); err != nil || len(items) != 0 {
		t.Fatalf("bulk get of no keys = %v, %v", items, err)
	}
}

// counting records how many reads run at once, failing reads of keys
// ending in "!".
type counting struct {
	cstate.Store
	inFlight, peak atomic.Int32
	// gate, when set, holds every read until all are in flight.
	gate *barrier
}

// barrier opens when n callers have arrived, or fails them after a
// deadline so a wrong implementation fails the test instead of hanging.
type barrier struct {
	n       int32
	arrived atomic.Int32
	open    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: int32(n), open: make(chan struct{})} }

func (b *barrier) wait() error {
	if b.arrived.Add(1) == b.n {
		close(b.open)
	}
	select {
	case <-b.open:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("not all reads ran at once")
	}
}

func (c *counting) Get(ctx context.Context, r *cstate.GetRequest) (*cstate.GetResponse, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if c.gate != nil {
		if err := c.gate.wait(); err != nil {
			return nil, err
		}
	}
	for range 10 {
		runtime.Gosched()
	}
	if strings.HasSuffix(r.Key, "!") {
		return nil, fmt.Errorf("cannot read %s", r.Key)
	}
	return c.Store.Get(ctx, r)
}

func TestBulkGetParallelism(t *testing.T) {
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	keys[7] = "bad!"

	t.Run("bounded", func(t *testing.T) {
		c := &counting{Store: newMemStore(t)}
		svc := state.New("myapp")
		if err := svc.Add(md("store", nil), c); err != nil {
			t.Fatal(err)
		}
		items, err := svc.BulkGet(t.Context(), "store", keys, state.BulkGetOptions{Parallelism: 3})
		if err != nil {
			t.Fatal(err)
		}
		if p := c.peak.Load(); p > 3 {
			t.Fatalf("%d reads in flight with parallelism 3", p)
		}
		for i, it := range items {
			if it.Key != keys[i] {
				t.Fatalf("item %d is key %q, want %q", i, it.Key, keys[i])
			}
			if (it.Error != "") != (i == 7) {
				t.Fatalf("item %d error = %q", i, it.Error)
			}
		}
		if !strings.Contains(items[7].Error, "cannot read myapp||bad!") {
			t.Fatalf("per-key error = %q", items[7].Error)
		}
	})

	// With no parallelism given every read runs at once: the gate only
	// opens when all of them are in flight.
	t.Run("default is all at once", func(t *testing.T) {
		c := &counting{Store: newMemStore(t), gate: newBarrier(len(keys))}
		svc := state.New("myapp")
		if err := svc.Add(md("store", nil), c); err != nil {
			t.Fatal(err)
		}
		items, err := svc.BulkGet(t.Context(), "store", keys, state.BulkGetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if strings.Contains(it.Error, "not all reads") {
				t.Fatal(it.Error)
			}
		}
		if p := c.peak.Load(); int(p) != len(keys) {
			t.Fatalf("peak reads in flight = %d, want %d", p, len(keys))
		}
	})
}

// A request without parallelism, or asking for more, reads at most
// MaxBulkGetParallelism keys at once, and one of too many keys is a client
// error.
func TestBulkGetBounds(t *testing.T) {
	c := &counting{Store: newMemStore(t)}
	svc := state.New("myapp")
	if err := svc.Add(md("store", nil), c); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 5*state.MaxBulkGetParallelism)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	for _, p := range []int{0, -1, len(keys), 1 << 30} {
		c.peak.Store(0)
		items, err := svc.BulkGet(t.Context(), "store", keys, state.BulkGetOptions{Parallelism: p})
		if err != nil || len(items) != len(keys) {
			t.Fatalf("parallelism %d: %d items, %v", p, len(items), err)
		}
		if peak := c.peak.Load(); peak > state.MaxBulkGetParallelism {
			t.Errorf("parallelism %d: %d reads in flight, want at most %d", p, peak, state.MaxBulkGetParallelism)
		}
	}

	many := make([]string, state.MaxBulkGetKeys+1)
	for i := range many {
		many[i] = "k"
	}
	_, err := svc.BulkGet(t.Context(), "store", many, state.BulkGetOptions{})
	de := wantErr(t, err, "ERR_MALFORMED_REQUEST", http.StatusBadRequest, codes.InvalidArgument)
	if !strings.Contains(de.Message, "keys") || !strings.Contains(de.Message, fmt.Sprint(state.MaxBulkGetKeys)) {
		t.Errorf("message %q does not name the field and the limit", de.Message)
	}
}

func TestClose(t *testing.T) {
	svc, mem := newService(t)
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Get(t.Context(), "store", "k", state.GetOptions{})
	wantErr(t, err, "ERR_STATE_STORE_NOT_CONFIGURED", 500, codes.FailedPrecondition)
	// The store belongs to whoever added it and stays usable.
	if err := mem.Set(t.Context(), &cstate.SetRequest{Key: "k", Value: []byte("1")}); err != nil {
		t.Fatalf("store closed by the service: %v", err)
	}
}
