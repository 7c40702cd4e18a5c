package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// separator joins a key prefix and a key, as in Dapr ("myapp||key").
const separator = "||"

// Dapr's keyPrefix strategies; any other value is used as the prefix.
const (
	prefixAppID     = "appid"
	prefixName      = "name"
	prefixNone      = "none"
	prefixNamespace = "namespace"
)

// Options configure a Service beyond its app id.
type Options struct {
	// Namespace is used by keyPrefix "namespace" ("<ns>.<appID>||key");
	// empty falls back to the app id, as in Dapr.
	Namespace string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Outbound returns the resiliency policy for calls to the named store
	// (nil for none); it is asked once per store, when the store is added.
	// Nil applies no policy.
	Outbound func(store string) *resiliency.Policy
}

// Service is one app's state API: its named stores and their key
// prefixes. It is safe for concurrent use.
type Service struct {
	appID     string
	namespace string
	log       *slog.Logger
	outbound  func(store string) *resiliency.Policy

	mu     sync.RWMutex
	stores map[string]*entry
}

// entry is one added store.
type entry struct {
	info   StoreInfo
	store  cstate.Store
	tx     cstate.Transactional // nil when the store has no transactions
	query  cstate.Querier       // nil when the store answers no queries
	prefix string               // prepended to keys; "" for none
	policy *resiliency.Policy   // wraps every call to the store; nil for none
}

// New returns a Service for appID with no stores.
func New(appID string) *Service { return NewWithOptions(appID, Options{}) }

// NewWithOptions returns a Service for appID with no stores.
func NewWithOptions(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		appID:     appID,
		namespace: opts.Namespace,
		log:       log.With("app", appID, "block", "state"),
		outbound:  opts.Outbound,
		stores:    map[string]*entry{},
	}
}

// Add makes an initialised store available under md.Name. Its key prefix
// comes from the keyPrefix metadata item (default appid). The store stays
// the caller's: Close does not close it, so one store may serve several
// apps.
func (s *Service) Add(md components.Metadata, store cstate.Store) error {
	if md.Name == "" {
		return daprerr.New(daprerr.BadRequest, "a state store needs a name")
	}
	if store == nil {
		return daprerr.New(daprerr.BadRequest, "state store %s: no store given", md.Name)
	}
	prefix, err := s.prefixFor(md)
	if err != nil {
		return err
	}
	features := store.Features()
	e := &entry{
		info: StoreInfo{
			Name:         md.Name,
			Type:         md.Type,
			Version:      md.Version,
			Capabilities: capabilities(features),
		},
		store:  store,
		prefix: prefix,
	}
	if tx, ok := store.(cstate.Transactional); ok && slices.Contains(features, cstate.FeatureTransactional) {
		e.tx = tx
	}
	if q, ok := store.(cstate.Querier); ok && slices.Contains(features, cstate.FeatureQuery) {
		e.query = q
	}
	if s.outbound != nil {
		e.policy = s.outbound(md.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.stores[md.Name]; dup {
		return daprerr.New(daprerr.BadRequest, "state store %s is already added", md.Name)
	}
	s.stores[md.Name] = e
	return nil
}

// prefixFor applies Dapr's keyPrefix rules. Like Dapr, it matches the
// metadata name case-insensitively and lower-cases the value.
func (s *Service) prefixFor(md components.Metadata) (string, error) {
	strategy := prefixAppID
	if v, ok := md.Property("keyPrefix"); ok {
		strategy = strings.ToLower(v)
	}
	if strings.Contains(strategy, separator) {
		return "", daprerr.New(daprerr.Malformed, "input key/keyPrefix '%s' can't contain '%s'", strategy, separator)
	}
	switch strategy {
	case prefixNone:
		return "", nil
	case prefixName:
		return md.Name + separator, nil
	case prefixAppID, "":
		if s.appID == "" {
			return "", nil
		}
		return s.appID + separator, nil
	case prefixNamespace:
		switch {
		case s.appID == "":
			return "", nil
		case s.namespace == "":
			return s.appID + separator, nil
		}
		return s.namespace + "." + s.appID + separator, nil
	default:
		return strategy + separator, nil
	}
}

// capabilities names the store's features as Dapr's metadata API does:
// the store's features, plus ACTOR when it has ETags and transactions.
func capabilities(features []cstate.Feature) []string {
	out := make([]string, 0, len(features)+1)
	for _, f := range features {
		if f != cstate.FeatureActor && !slices.Contains(out, string(f)) {
			out = append(out, string(f))
		}
	}
	if slices.Contains(features, cstate.FeatureETag) && slices.Contains(features, cstate.FeatureTransactional) {
		out = append(out, string(cstate.FeatureActor))
	}
	return out
}

// Close removes every store from the service; later calls answer as if
// none were configured. The stores themselves are left open for their
// owner to close.
func (s *Service) Close() error {
	s.mu.Lock()
	s.stores = map[string]*entry{}
	s.mu.Unlock()
	return nil
}

// Stores describes the added stores, sorted by name.
func (s *Service) Stores() []StoreInfo {
	s.mu.RLock()
	out := make([]StoreInfo, 0, len(s.stores))
	for _, e := range s.stores {
		info := e.info
		info.Capabilities = slices.Clone(info.Capabilities)
		out = append(out, info)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Check returns Dapr's error for a store name that names no store (none
// configured, or not this one), nil when one does; it allocates nothing.
func (s *Service) Check(name string) error {
	_, err := s.lookup(name)
	return err
}

// lookup finds a store with Dapr's errors for none configured and unknown.
func (s *Service) lookup(name string) (*entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.stores) == 0 {
		return nil, daprerr.New(daprerr.StateStoresNotConfigured, "state store %s is not configured", name)
	}
	e, ok := s.stores[name]
	if !ok {
		return nil, daprerr.New(daprerr.StateStoreNotFound, "state store %s is not found", name)
	}
	return e, nil
}

// key checks a caller's key and returns the store's key.
func (e *entry) key(k string) (string, error) {
	if k == "" {
		return "", daprerr.New(daprerr.Malformed, `"key" is a required field`)
	}
	if strings.Contains(k, separator) {
		return "", daprerr.New(daprerr.Malformed, "input key/keyPrefix '%s' can't contain '%s'", k, separator)
	}
	return e.prefix + k, nil
}

// invalid marks a write's error as the caller's: daprd answers these with
// its state error codes and 500, as the store's failure; cove keeps the
// codes and answers 400 (gRPC InvalidArgument), as for a malformed ETag.
func invalid(kind daprerr.Kind, cause error, format string, args ...any) *daprerr.Error {
	return daprerr.Wrap(kind, cause, format, args...).WithStatus(http.StatusBadRequest, codes.InvalidArgument)
}

// checkSave validates a save's options and its ttlInSeconds before
// anything is written.
func checkSave(it SaveItem) error {
	if err := checkOptions(it.Concurrency, it.Consistency); err != nil {
		return err
	}
	_, err := cstate.ParseTTL(it.Metadata)
	return err
}

// checkOptions validates a write's concurrency and consistency as Dapr's
// stores do (reads take any consistency, as there).
func checkOptions(concurrency, consistency string) error {
	switch concurrency {
	case "", cstate.FirstWrite, cstate.LastWrite:
	default:
		return fmt.Errorf("invalid concurrency %q: use %s or %s", concurrency, cstate.FirstWrite, cstate.LastWrite)
	}
	switch consistency {
	case "", cstate.Strong, cstate.Eventual:
	default:
		return fmt.Errorf("invalid consistency %q: use %s or %s", consistency, cstate.Strong, cstate.Eventual)
	}
	return nil
}

// etag treats an empty ETag as none, as Dapr does (an empty If-Match).
func etag(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

// storeError maps a store's error to kind: an ETag mismatch answers 409
// (gRPC Aborted), a malformed ETag 400 (InvalidArgument), anything else
// 500, as daprd's state API does.
func storeError(kind daprerr.Kind, cause error, format string, args ...any) *daprerr.Error {
	e := daprerr.Wrap(kind, cause, format, args...)
	switch {
	case errors.Is(cause, cstate.ErrETagInvalid):
		return e.WithStatus(http.StatusBadRequest, codes.InvalidArgument)
	case errors.Is(cause, cstate.ErrETagMismatch):
		return e.WithStatus(http.StatusConflict, codes.Aborted)
	}
	return e
}

// Get reads one key. A missing key is an Item with Found false.
func (s *Service) Get(ctx context.Context, store, key string, opts GetOptions) (*Item, error) {
	e, err := s.lookup(store)
	if err != nil {
		return nil, err
	}
	k, err := e.key(key)
	if err != nil {
		return nil, err
	}
	req := &cstate.GetRequest{Key: k, Metadata: opts.Metadata, Consistency: opts.Consistency}
	resp, err := run(ctx, e, func(ctx context.Context) (*cstate.GetResponse, error) { return e.store.Get(ctx, req) })
	if err != nil {
		s.log.Debug("state get failed", "store", store, "key", key, "err", err)
		return nil, daprerr.Wrap(daprerr.StateGet, err, "fail to get %s from state store %s", key, store)
	}
	return toItem(key, resp), nil
}

func toItem(key string, resp *cstate.GetResponse) *Item {
	it := &Item{Key: key}
	if resp == nil || (resp.Data == nil && resp.ETag == nil) {
		return it
	}
	it.Found, it.Value, it.Metadata = true, resp.Data, resp.Metadata
	if resp.ETag != nil {
		it.ETag = *resp.ETag
	}
	if resp.ContentType != nil {
		it.ContentType = *resp.ContentType
	}
	return it
}

// Bounds of one bulk get. daprd reads every key at once when no
// parallelism is given, a goroutine each: a request of 100,000 keys then
// holds 100,000 goroutines. Here reads in flight never exceed
// MaxBulkGetParallelism, and a request of more than MaxBulkGetKeys keys is
// refused.
const (
	MaxBulkGetParallelism = 100
	MaxBulkGetKeys        = 10_000
)

// BulkGet reads keys with at most opts.Parallelism reads in flight; zero or
// less reads them all at once, as Dapr does, both up to
// MaxBulkGetParallelism. A key whose read fails carries the error in its
// item; the call itself fails only for an unknown store, a malformed key or
// more than MaxBulkGetKeys keys.
func (s *Service) BulkGet(ctx context.Context, store string, keys []string, opts BulkGetOptions) ([]BulkItem, error) {
	e, err := s.lookup(store)
	if err != nil {
		return nil, err
	}
	if len(keys) > MaxBulkGetKeys {
		return nil, daprerr.New(daprerr.Malformed, "keys: a bulk get reads at most %d keys, this one asks for %d; split it into several requests", MaxBulkGetKeys, len(keys))
	}
	storeKeys := make([]string, len(keys))
	for i, k := range keys {
		if storeKeys[i], err = e.key(k); err != nil {
			return nil, err
		}
	}
	out := make([]BulkItem, len(keys))
	limit := opts.Parallelism
	if limit <= 0 || limit > len(keys) {
		limit = len(keys)
	}
	limit = min(limit, MaxBulkGetParallelism)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = BulkItem{Key: keys[i]}
			req := &cstate.GetRequest{Key: storeKeys[i], Metadata: opts.Metadata}
			resp, err := run(ctx, e, func(ctx context.Context) (*cstate.GetResponse, error) { return e.store.Get(ctx, req) })
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			it := toItem(keys[i], resp)
			out[i].Value, out[i].ETag, out[i].Found, out[i].Metadata = it.Value, it.ETag, it.Found, it.Metadata
		})
	}
	wg.Wait()
	return out, nil
}

func (e *entry) setRequest(it SaveItem) (*cstate.SetRequest, error) {
	k, err := e.key(it.Key)
	if err != nil {
		return nil, err
	}
	req := &cstate.SetRequest{
		Key:      k,
		Value:    it.Value,
		ETag:     etag(it.ETag),
		Metadata: it.Metadata,
		Options:  cstate.Options{Concurrency: it.Concurrency, Consistency: it.Consistency},
	}
	if it.ContentType != "" {
		req.ContentType = &it.ContentType
	}
	return req, nil
}

func (e *entry) deleteRequest(it DeleteItem) (*cstate.DeleteRequest, error) {
	k, err := e.key(it.Key)
	if err != nil {
		return nil, err
	}
	return &cstate.DeleteRequest{
		Key:      k,
		ETag:     etag(it.ETag),
		Metadata: it.Metadata,
		Options:  cstate.Options{Concurrency: it.Concurrency, Consistency: it.Consistency},
	}, nil
}

// Save writes items, in parallel as Dapr does; it is not atomic (use
// Transact for that). Every key is checked before anything is written.
func (s *Service) Save(ctx context.Context, store string, items []SaveItem) error {
	e, err := s.lookup(store)
	if err != nil {
		return err
	}
	reqs := make([]*cstate.SetRequest, len(items))
	for i, it := range items {
		if reqs[i], err = e.setRequest(it); err != nil {
			return err
		}
		if err := checkSave(it); err != nil {
			return invalid(daprerr.StateSave, err, "failed saving state in state store %s", store)
		}
	}
	set := func(req *cstate.SetRequest) error {
		return runErr(ctx, e, func(ctx context.Context) error {
			return rejectBadTTL(e.store.Set(ctx, req), req.Metadata)
		})
	}
	errs := make([]error, len(reqs))
	if len(reqs) == 1 {
		errs[0] = set(reqs[0])
	} else {
		var wg sync.WaitGroup
		for i, req := range reqs {
			wg.Go(func() { errs[i] = set(req) })
		}
		wg.Wait()
	}
	if err := joinItemErrors(items, errs); err != nil {
		s.log.Debug("state save failed", "store", store, "err", err)
		return storeError(daprerr.StateSave, err, "failed saving state in state store %s", store)
	}
	return nil
}

// joinItemErrors joins the failed items' errors, naming the key when there
// were several items. The result is an ETag error only when every failure
// was one (a malformed ETag deciding over a mismatch), so a single unrelated
// failure makes the answer a 500.
func joinItemErrors(items []SaveItem, errs []error) error {
	var failed []error
	var kind error = cstate.ErrETagMismatch
	for i, err := range errs {
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, cstate.ErrETagInvalid):
			if kind != nil {
				kind = cstate.ErrETagInvalid
			}
		case !errors.Is(err, cstate.ErrETagMismatch):
			kind = nil
		}
		if len(items) > 1 {
			err = fmt.Errorf("key %s: %w", items[i].Key, err)
		}
		failed = append(failed, err)
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	return &itemErrors{joined: errors.Join(failed...), kind: kind}
}

// itemErrors is the failures of a multi-item save; it matches only the
// sentinel that decides the status, not every error it holds.
type itemErrors struct {
	joined error
	kind   error
}

func (e *itemErrors) Error() string { return e.joined.Error() }

func (e *itemErrors) Is(target error) bool { return e.kind != nil && target == e.kind }

// Delete deletes one key; an ETag makes it conditional.
func (s *Service) Delete(ctx context.Context, store string, item DeleteItem) error {
	e, err := s.lookup(store)
	if err != nil {
		return err
	}
	req, err := e.deleteRequest(item)
	if err != nil {
		return err
	}
	if err := checkOptions(item.Concurrency, item.Consistency); err != nil {
		return invalid(daprerr.StateDelete, err, "failed deleting state with key %s", item.Key)
	}
	if err := runErr(ctx, e, func(ctx context.Context) error { return e.store.Delete(ctx, req) }); err != nil {
		s.log.Debug("state delete failed", "store", store, "key", item.Key, "err", err)
		return storeError(daprerr.StateDelete, err, "failed deleting state with key %s", item.Key)
	}
	return nil
}

// Transact applies ops atomically on a transactional store. As in daprd,
// any failure of the transaction itself, ETag conflicts included, answers
// ERR_STATE_TRANSACTION with status 500.
func (s *Service) Transact(ctx context.Context, store string, ops []TxOperation, metadata map[string]string) error {
	e, err := s.lookup(store)
	if err != nil {
		return err
	}
	if e.tx == nil {
		return daprerr.New(daprerr.StateStoreNotSupported, "state store %s doesn't support transactions", store).
			WithStatus(http.StatusInternalServerError, codes.Unimplemented)
	}
	if len(ops) == 0 {
		return nil
	}
	req := &cstate.TransactionRequest{Operations: make([]cstate.Operation, len(ops)), Metadata: metadata}
	for i, op := range ops {
		var err, bad error
		switch op.Operation {
		case "upsert":
			req.Operations[i].Set, err = e.setRequest(op.Save)
			bad = checkSave(op.Save)
		case "delete":
			req.Operations[i].Delete, err = e.deleteRequest(op.Delete)
			bad = checkOptions(op.Delete.Concurrency, op.Delete.Consistency)
		default:
			return daprerr.New(daprerr.NotSupportedStateOperation, "operation type %s not supported", op.Operation)
		}
		if err != nil {
			return err
		}
		if bad != nil {
			return invalid(daprerr.StateTransaction, bad, "error while executing state transaction")
		}
	}
	multi := func(ctx context.Context) error {
		err := e.tx.Multi(ctx, req)
		for _, op := range req.Operations {
			if op.Set != nil {
				err = rejectBadTTL(err, op.Set.Metadata)
			}
		}
		return err
	}
	if err := runErr(ctx, e, multi); err != nil {
		s.log.Debug("state transaction failed", "store", store, "err", err)
		return daprerr.Wrap(daprerr.StateTransaction, err, "error while executing state transaction")
	}
	return nil
}
