package state_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/inmemory"
	"github.com/cove-env/cove/internal/components/state/sqlite"
	"github.com/cove-env/cove/internal/resiliency"
)

var errStoreDown = errors.New("store unreachable")

// shim wraps a real store, failing or delaying the calls it is told to
// and counting every call by operation and key.
type shim struct {
	cstate.Store

	mu       sync.Mutex
	calls    map[string]int // "get myapp||k", "multi", "query"
	failures int            // calls still to fail
	only     string         // fail only calls to this store key; "" any
	delay    time.Duration  // every call waits this long, or until cancelled
}

func newShim(inner cstate.Store) *shim { return &shim{Store: inner, calls: map[string]int{}} }

func (s *shim) inject(ctx context.Context, op, key string) error {
	s.mu.Lock()
	s.calls[strings.TrimSpace(op+" "+key)]++
	fail := s.failures > 0 && (s.only == "" || s.only == key)
	if fail {
		s.failures--
	}
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errStoreDown
	}
	return nil
}

func (s *shim) set(failures int, only string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures, s.only, s.delay = failures, only, delay
	clear(s.calls)
}

func (s *shim) count() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *shim) Get(ctx context.Context, req *cstate.GetRequest) (*cstate.GetResponse, error) {
	if err := s.inject(ctx, "get", req.Key); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, req)
}

func (s *shim) Set(ctx context.Context, req *cstate.SetRequest) error {
	if err := s.inject(ctx, "set", req.Key); err != nil {
		return err
	}
	return s.Store.Set(ctx, req)
}

func (s *shim) Delete(ctx context.Context, req *cstate.DeleteRequest) error {
	if err := s.inject(ctx, "delete", req.Key); err != nil {
		return err
	}
	return s.Store.Delete(ctx, req)
}

func (s *shim) Multi(ctx context.Context, req *cstate.TransactionRequest) error {
	if err := s.inject(ctx, "multi", ""); err != nil {
		return err
	}
	return s.Store.(cstate.Transactional).Multi(ctx, req)
}

func (s *shim) Query(ctx context.Context, req *cstate.QueryRequest) (*cstate.QueryResponse, error) {
	if err := s.inject(ctx, "query", ""); err != nil {
		return nil, err
	}
	return s.Store.(cstate.Querier).Query(ctx, req)
}

// policyService returns a service for "myapp" whose store "db" is a shim
// over a real store, and p applied to it.
func policyService(t *testing.T, inner cstate.Store, p *resiliency.Policy) (*state.Service, *shim) {
	t.Helper()
	sh := newShim(inner)
	svc := state.NewWithOptions("myapp", state.Options{Outbound: func(store string) *resiliency.Policy {
		if store != "db" {
			t.Errorf("policy asked for store %q", store)
		}
		return p
	}})
	if err := svc.Add(components.Metadata{Name: "db", Type: "state.test", Version: "v1"}, sh); err != nil {
		t.Fatal(err)
	}
	return svc, sh
}

func sqliteStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s := sqlite.New()
	if err := s.Init(t.Context(), components.Metadata{Name: "db", Type: sqlite.Type, Properties: map[string]string{"connectionString": ":memory:"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func retries(n int) *resiliency.Policy {
	return &resiliency.Policy{Retry: &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Millisecond, MaxRetries: n}}
}

// TestPolicyRetriesStoreFailures: every operation the block makes to a
// store that fails twice is retried to success.
func TestPolicyRetriesStoreFailures(t *testing.T) {
	svc, sh := policyService(t, sqliteStore(t), retries(3))
	ctx := t.Context()
	if err := svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`{"n":1}`)}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		call  func() error
		calls map[string]int
	}{
		{name: "get", call: func() error {
			it, err := svc.Get(ctx, "db", "k", state.GetOptions{})
			if err == nil && string(it.Value) != `{"n":1}` {
				t.Errorf("value %q", it.Value)
			}
			return err
		}, calls: map[string]int{"get myapp||k": 3}},
		{name: "bulk get", call: func() error {
			items, err := svc.BulkGet(ctx, "db", []string{"k"}, state.BulkGetOptions{})
			if err == nil && (len(items) != 1 || items[0].Error != "" || !items[0].Found) {
				t.Errorf("items %+v", items)
			}
			return err
		}, calls: map[string]int{"get myapp||k": 3}},
		{name: "save", call: func() error {
			return svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`{"n":1}`)}})
		}, calls: map[string]int{"set myapp||k": 3}},
		{name: "transaction", call: func() error {
			return svc.Transact(ctx, "db", []state.TxOperation{{Operation: "upsert", Save: state.SaveItem{Key: "k", Value: []byte(`{"n":1}`)}}}, nil)
		}, calls: map[string]int{"multi": 3}},
		{name: "query", call: func() error {
			resp, err := svc.Query(ctx, "db", []byte(`{"filter":{"EQ":{"n":1}}}`), nil)
			if err == nil && len(resp.Results) != 1 {
				t.Errorf("results %+v", resp.Results)
			}
			return err
		}, calls: map[string]int{"query": 3}},
		{name: "delete", call: func() error {
			return svc.Delete(ctx, "db", state.DeleteItem{Key: "gone"})
		}, calls: map[string]int{"delete myapp||gone": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh.set(2, "", 0)
			if err := tt.call(); err != nil {
				t.Fatalf("failed after retries: %v", err)
			}
			if diff := cmp.Diff(tt.calls, sh.count()); diff != "" {
				t.Errorf("store calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPolicyRetriesOnlyFailedItems: a multi-item save retries the item
// that failed, not the ones already written.
func TestPolicyRetriesOnlyFailedItems(t *testing.T) {
	svc, sh := policyService(t, sqliteStore(t), retries(3))
	sh.set(2, "myapp||b", 0)
	items := []state.SaveItem{{Key: "a", Value: []byte(`1`)}, {Key: "b", Value: []byte(`2`)}}
	if err := svc.Save(t.Context(), "db", items); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"set myapp||a": 1, "set myapp||b": 3}, sh.count()); diff != "" {
		t.Errorf("store calls (-want +got):\n%s", diff)
	}
}

func TestPolicyRetriesExhausted(t *testing.T) {
	svc, sh := policyService(t, sqliteStore(t), retries(2))
	sh.set(10, "", 0)
	err := svc.Save(t.Context(), "db", []state.SaveItem{{Key: "k", Value: []byte(`1`)}})
	de := wantErr(t, err, "ERR_STATE_SAVE", http.StatusInternalServerError, codes.Internal)
	if !strings.Contains(de.Error(), errStoreDown.Error()) {
		t.Errorf("message %q does not carry the store's error", de.Error())
	}
	if got := sh.count()["set myapp||k"]; got != 3 {
		t.Errorf("store called %d times, want 3 (one and two retries)", got)
	}
	_, err = svc.BulkGet(t.Context(), "db", []string{"k"}, state.BulkGetOptions{})
	if err != nil {
		t.Fatalf("a failed key failed the bulk get: %v", err)
	}
}

// TestPolicyDoesNotRetryCallerMistakes: a conflict, a malformed ETag and a
// bad TTL answer at once, with their own status, after one store call.
func TestPolicyDoesNotRetryCallerMistakes(t *testing.T) {
	svc, sh := policyService(t, sqliteStore(t), retries(5))
	ctx := t.Context()
	if err := svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`1`)}}); err != nil {
		t.Fatal(err)
	}
	ptr := func(s string) *string { return &s }
	const otherETag = "00000000-0000-4000-8000-000000000000" // well formed, never issued
	tests := []struct {
		name     string
		call     func() error
		code     string
		status   int
		grpcCode codes.Code
		calls    map[string]int
	}{
		{name: "etag mismatch on save", call: func() error {
			return svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`2`), ETag: ptr(otherETag)}})
		}, code: "ERR_STATE_SAVE", status: http.StatusConflict, grpcCode: codes.Aborted, calls: map[string]int{"set myapp||k": 1}},
		{name: "first write on an existing key", call: func() error {
			return svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`2`), Concurrency: cstate.FirstWrite}})
		}, code: "ERR_STATE_SAVE", status: http.StatusConflict, grpcCode: codes.Aborted, calls: map[string]int{"set myapp||k": 1}},
		{name: "malformed etag on delete", call: func() error {
			return svc.Delete(ctx, "db", state.DeleteItem{Key: "k", ETag: ptr("not-a-number")})
		}, code: "ERR_STATE_DELETE", status: http.StatusBadRequest, grpcCode: codes.InvalidArgument, calls: map[string]int{"delete myapp||k": 1}},
		{name: "etag mismatch in a transaction", call: func() error {
			return svc.Transact(ctx, "db", []state.TxOperation{{Operation: "delete", Delete: state.DeleteItem{Key: "k", ETag: ptr(otherETag)}}}, nil)
		}, code: "ERR_STATE_TRANSACTION", status: http.StatusInternalServerError, grpcCode: codes.Internal, calls: map[string]int{"multi": 1}},
		{name: "bad ttl", call: func() error {
			return svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`2`), Metadata: map[string]string{"ttlInSeconds": "soon"}}})
		}, code: "ERR_STATE_SAVE", status: http.StatusBadRequest, grpcCode: codes.InvalidArgument, calls: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh.set(0, "", 0)
			wantErr(t, tt.call(), tt.code, tt.status, tt.grpcCode)
			if diff := cmp.Diff(tt.calls, sh.count()); diff != "" {
				t.Errorf("store calls (-want +got):\n%s", diff)
			}
		})
	}
}

func memStore(t *testing.T) *inmemory.Store {
	t.Helper()
	s := inmemory.New()
	if err := s.Init(t.Context(), components.Metadata{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPolicyTimeout: a store slower than the policy's timeout answers
// Dapr's error for the operation, after each attempt's timeout.
func TestPolicyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &resiliency.Policy{Timeout: time.Second,
			Retry: &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Second, MaxRetries: 1}}
		svc, sh := policyService(t, memStore(t), p)
		sh.set(0, "", time.Minute)
		start := time.Now()
		_, err := svc.Get(t.Context(), "db", "k", state.GetOptions{})
		de := wantErr(t, err, "ERR_STATE_GET", http.StatusInternalServerError, codes.Internal)
		if want := "ERR_STATE_GET: fail to get k from state store db: context deadline exceeded"; de.Error() != want {
			t.Errorf("message %q, want %q", de.Error(), want)
		}
		// Two attempts of 1s and the 1s wait between them.
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("answered after %v, want 3s", got)
		}
		if got := sh.count()["get myapp||k"]; got != 2 {
			t.Errorf("store called %d times, want 2", got)
		}
	})
}

// TestPolicyCircuitBreaker: once open, the breaker fails calls without
// reaching the store; after its timeout a successful probe closes it.
// Conflicts do not count against the store.
func TestPolicyCircuitBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		trip, err := resiliency.CompileTrip("consecutiveFailures >= 2")
		if err != nil {
			t.Fatal(err)
		}
		p := &resiliency.Policy{Breaker: resiliency.NewBreaker(resiliency.BreakerPolicy{Timeout: 30 * time.Second, Trip: trip}, nil)}
		svc, sh := policyService(t, memStore(t), p)
		ctx := t.Context()
		get := func() error { _, err := svc.Get(ctx, "db", "k", state.GetOptions{}); return err }

		bad := "999"
		for range 3 {
			err := svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`1`), ETag: &bad}})
			wantErr(t, err, "ERR_STATE_SAVE", http.StatusConflict, codes.Aborted)
		}
		if p.Breaker.State() != resiliency.Closed {
			t.Fatalf("conflicts opened the breaker")
		}

		sh.set(2, "", 0)
		for range 2 {
			if err := get(); !errors.Is(err, errStoreDown) {
				t.Fatalf("err = %v, want the store's failure", err)
			}
		}
		de := wantErr(t, get(), "ERR_STATE_GET", http.StatusInternalServerError, codes.Internal)
		if !errors.Is(de, resiliency.ErrBreakerOpen) {
			t.Errorf("open breaker answered %q", de.Error())
		}
		err = svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`1`)}})
		wantErr(t, err, "ERR_STATE_SAVE", http.StatusInternalServerError, codes.Internal)
		if diff := cmp.Diff(map[string]int{"get myapp||k": 2}, sh.count()); diff != "" {
			t.Errorf("store calls while open (-want +got):\n%s", diff)
		}

		time.Sleep(30 * time.Second)
		if err := get(); err != nil {
			t.Fatalf("probe after the breaker's timeout: %v", err)
		}
		if p.Breaker.State() != resiliency.Closed {
			t.Errorf("breaker %v after a successful probe, want closed", p.Breaker.State())
		}
		if err := svc.Save(ctx, "db", []state.SaveItem{{Key: "k", Value: []byte(`1`)}}); err != nil {
			t.Fatalf("save after the breaker closed: %v", err)
		}
	})
}

// TestNoPolicyCallsOnce: without a policy a failure is answered as it is.
func TestNoPolicyCallsOnce(t *testing.T) {
	svc, sh := policyService(t, memStore(t), nil)
	sh.set(1, "", 0)
	_, err := svc.Get(t.Context(), "db", "k", state.GetOptions{})
	wantErr(t, err, "ERR_STATE_GET", http.StatusInternalServerError, codes.Internal)
	if got := sh.count()["get myapp||k"]; got != 1 {
		t.Errorf("store called %d times, want 1", got)
	}
}
