package inmemory

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
)

// Type is the component type this package registers.
const Type = "state.in-memory"

// sweepInterval is how often expired items are dropped from the map. Reads
// already hide expired items, so this only bounds memory.
const sweepInterval = 5 * time.Second

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.Transactional = (*Store)(nil)
)

// Store is the in-memory state store. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	items map[string]item
	// version is the last ETag handed out. It only grows, so a key that is
	// deleted and written again never gets an ETag it had before.
	version uint64
	now     func() time.Time

	startOnce sync.Once
	started   bool // set inside startOnce
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
}

type item struct {
	data    []byte
	etag    string
	expires time.Time // zero: never
}

func (it item) expired(now time.Time) bool {
	return !it.expires.IsZero() && !now.Before(it.expires)
}

// New returns an empty store.
func New() *Store {
	return &Store{
		items: map[string]item{},
		now:   time.Now,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Init starts the sweeper that drops expired items. The store takes no
// metadata of its own; other keys are reported, not refused, as in Dapr.
func (s *Store) Init(_ context.Context, md components.Metadata) error {
	var m state.RuntimeMetadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return err
	}
	s.startOnce.Do(func() {
		s.started = true
		go s.sweep()
	})
	return nil
}

// Features reports ETags, transactions and TTLs.
func (s *Store) Features() []state.Feature {
	return []state.Feature{state.FeatureETag, state.FeatureTransactional, state.FeatureTTL}
}

// Close stops the sweeper and drops the data.
func (s *Store) Close() error {
	s.startOnce.Do(func() {}) // no sweeper may start after Close
	s.stopOnce.Do(func() { close(s.stop) })
	if s.started {
		<-s.done
	}
	s.mu.Lock()
	clear(s.items)
	s.mu.Unlock()
	return nil
}

func (s *Store) sweep() {
	defer close(s.done)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := s.now()
			s.mu.Lock()
			maps.DeleteFunc(s.items, func(_ string, it item) bool { return it.expired(now) })
			s.mu.Unlock()
		}
	}
}

// Get returns a copy of the value, so callers may modify it freely.
func (s *Store) Get(_ context.Context, req *state.GetRequest) (*state.GetResponse, error) {
	now := s.now()
	s.mu.RLock()
	it, ok := s.items[req.Key]
	s.mu.RUnlock()
	if !ok || it.expired(now) {
		return &state.GetResponse{}, nil
	}
	etag := it.etag
	resp := &state.GetResponse{Data: append([]byte{}, it.data...), ETag: &etag}
	if !it.expires.IsZero() {
		resp.Metadata = map[string]string{"ttlExpireTime": it.expires.UTC().Format(time.RFC3339)}
	}
	return resp, nil
}

// Set writes one key, honouring its ETag and first-write option.
func (s *Store) Set(_ context.Context, req *state.SetRequest) error {
	w, err := s.prepareSet(req)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err := check(s.current(req.Key, now), req.Key, w.etag, w.firstWrite); err != nil {
		return err
	}
	s.items[req.Key] = s.newItem(w, now)
	return nil
}

// Delete removes one key; with an ETag, only if it matches.
func (s *Store) Delete(_ context.Context, req *state.DeleteRequest) error {
	etag, err := parseETag(req.ETag)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := check(s.current(req.Key, s.now()), req.Key, etag, false); err != nil {
		return err
	}
	delete(s.items, req.Key)
	return nil
}

// Multi applies the operations atomically: every condition is checked
// against the state the earlier operations leave, and nothing is written
// unless all of them hold.
func (s *Store) Multi(_ context.Context, req *state.TransactionRequest) error {
	type step struct {
		key    string
		set    *write
		delete bool
		etag   string
	}
	steps := make([]step, len(req.Operations))
	for i, op := range req.Operations {
		switch {
		case op.Set != nil:
			w, err := s.prepareSet(op.Set)
			if err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
			steps[i] = step{key: op.Set.Key, set: &w}
		case op.Delete != nil:
			etag, err := parseETag(op.Delete.ETag)
			if err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
			steps[i] = step{key: op.Delete.Key, delete: true, etag: etag}
		default:
			return fmt.Errorf("operation %d: neither set nor delete", i)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// pending holds what the transaction has written so far; a nil entry
	// is a delete.
	pending := map[string]*item{}
	lookup := func(key string) *item {
		if p, ok := pending[key]; ok {
			return p
		}
		return s.current(key, now)
	}
	for i, st := range steps {
		if st.delete {
			if err := check(lookup(st.key), st.key, st.etag, false); err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
			pending[st.key] = nil
			continue
		}
		if err := check(lookup(st.key), st.key, st.set.etag, st.set.firstWrite); err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
		it := s.newItem(*st.set, now)
		pending[st.key] = &it
	}
	for key, it := range pending {
		if it == nil {
			delete(s.items, key)
		} else {
			s.items[key] = *it
		}
	}
	return nil
}

// write is a validated set request.
type write struct {
	data       []byte
	etag       string
	firstWrite bool
	ttl        time.Duration
}

func (s *Store) prepareSet(req *state.SetRequest) (write, error) {
	etag, err := parseETag(req.ETag)
	if err != nil {
		return write{}, err
	}
	ttl, err := state.ParseTTL(req.Metadata)
	if err != nil {
		return write{}, err
	}
	return write{
		// Copy so the caller may reuse its buffer.
		data:       append([]byte{}, req.Value...),
		etag:       etag,
		firstWrite: req.Options.Concurrency == state.FirstWrite,
		ttl:        ttl,
	}, nil
}

// newItem must be called with the write lock held.
func (s *Store) newItem(w write, now time.Time) item {
	s.version++
	it := item{data: w.data, etag: strconv.FormatUint(s.version, 10)}
	if w.ttl > 0 {
		it.expires = now.Add(w.ttl)
	}
	return it
}

// current returns the live item for key, or nil. Callers hold the lock.
func (s *Store) current(key string, now time.Time) *item {
	it, ok := s.items[key]
	if !ok || it.expired(now) {
		return nil
	}
	return &it
}

// check applies Dapr's concurrency rules: an ETag must match the live item;
// first-write without an ETag requires that no live item exists.
func check(cur *item, key, etag string, firstWrite bool) error {
	switch {
	case etag != "" && cur == nil:
		return fmt.Errorf("%w: key %q does not exist", state.ErrETagMismatch, key)
	case etag != "" && cur.etag != etag:
		return fmt.Errorf("%w: key %q", state.ErrETagMismatch, key)
	case etag == "" && firstWrite && cur != nil:
		return fmt.Errorf("%w: key %q already exists and no etag was given (first-write)", state.ErrETagMismatch, key)
	}
	return nil
}

// parseETag returns the ETag to check, "" for none. ETags are the decimal
// versions this store hands out; anything else is malformed.
func parseETag(etag *string) (string, error) {
	if etag == nil || *etag == "" {
		return "", nil
	}
	if _, err := strconv.ParseUint(*etag, 10, 64); err != nil {
		return "", fmt.Errorf("%w: %q is not a version number", state.ErrETagInvalid, *etag)
	}
	return *etag, nil
}
