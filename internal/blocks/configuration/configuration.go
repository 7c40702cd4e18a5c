// Package configuration is the configuration building block: one app's
// configuration stores by name, reads, and subscriptions with Dapr's errors,
// for both API front ends. How updates reach the app (POSTed to an HTTP
// app, streamed to a gRPC caller) is the front end's business: it passes
// the handler.
//
// It imports the components registry, the configuration store interface,
// daprerr and resiliency; it must not import the sidecar, the hosts or spec.
package configuration

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cove-env/cove/internal/blocks/named"
	"github.com/cove-env/cove/internal/components"
	cconf "github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Item and Update are the store's types.
type (
	Item   = cconf.Item
	Update = cconf.Update
)

// Options configure a Service beyond its app id.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Outbound returns the policy for calls to the named store and
	// Inbound the one for delivering its updates to the app (nil for
	// none); each is asked once per store, when the store is added.
	Outbound, Inbound func(store string) *resiliency.Policy
}

// StoreInfo describes one store for the metadata API.
type StoreInfo struct {
	Name, Type, Version string
}

// Service is one app's configuration API. It is safe for concurrent use.
type Service struct {
	appID             string
	log               *slog.Logger
	outbound, inbound func(string) *resiliency.Policy

	stores named.Set[*entry]

	mu   sync.Mutex
	subs map[string]context.CancelFunc // by subscription id
}

type entry struct {
	info              StoreInfo
	store             cconf.Store
	outbound, inbound *resiliency.Policy
}

// New returns a Service for appID with no stores.
func New(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		appID: appID, log: log.With("app", appID, "block", "configuration"),
		outbound: opts.Outbound, inbound: opts.Inbound,
		subs: map[string]context.CancelFunc{},
	}
}

// Add makes an initialised store available under md.Name. The store stays
// the caller's.
func (s *Service) Add(md components.Metadata, st cconf.Store) error {
	if md.Name == "" || st == nil {
		return fmt.Errorf("configuration store %q: a name and a store are required", md.Name)
	}
	e := &entry{info: StoreInfo{Name: md.Name, Type: md.Type, Version: md.Version}, store: st}
	if s.outbound != nil {
		e.outbound = s.outbound(md.Name)
	}
	if s.inbound != nil {
		e.inbound = s.inbound(md.Name)
	}
	if err := s.stores.Add(md.Name, e); err != nil {
		return fmt.Errorf("configuration store %w", err)
	}
	return nil
}

// Stores lists the stores by name.
func (s *Service) Stores() []StoreInfo {
	return named.Each(&s.stores, func(e *entry) StoreInfo { return e.info })
}

// Check returns daprd's error for a store name that names no store.
func (s *Service) Check(store string) error {
	_, err := s.find(store)
	return err
}

func (s *Service) find(store string) (*entry, error) {
	if s.stores.Len() == 0 {
		return nil, daprerr.NoConfigurationStores()
	}
	e, ok := s.stores.Get(store)
	if !ok {
		return nil, daprerr.New(daprerr.ConfigurationStoreNotFound, "configuration store %s not found", store)
	}
	return e, nil
}

// Get reads keys (every item when none) from store.
func (s *Service) Get(ctx context.Context, store string, keys []string, md map[string]string) (map[string]*Item, error) {
	e, err := s.find(store)
	if err != nil {
		return nil, err
	}
	items, err := resiliency.Call(ctx, e.outbound, func(ctx context.Context) (map[string]*Item, error) {
		return e.store.Get(ctx, keys, md)
	})
	if err != nil {
		return nil, daprerr.Wrap(daprerr.ConfigurationGet, err, "failed to get %v from Configuration store %s", keys, store)
	}
	return items, nil
}

// Subscribe reports changes of keys in store to h until ctx ends or
// Unsubscribe/Stop end it. Each update goes to h under the store's
// inbound policy; h's failure is logged.
func (s *Service) Subscribe(ctx context.Context, store string, keys []string, md map[string]string, h cconf.Handler) (string, error) {
	e, err := s.find(store)
	if err != nil {
		return "", err
	}
	subCtx, cancel := context.WithCancel(ctx)
	deliver := func(ctx context.Context, u *Update) error {
		_, err := resiliency.Call(ctx, e.inbound, func(ctx context.Context) (struct{}, error) { return struct{}{}, h(ctx, u) })
		if err != nil && ctx.Err() == nil {
			s.log.Warn("configuration update not delivered to the app", "store", store, "subscription", u.ID, "error", err)
		}
		return err
	}
	id, err := resiliency.Call(subCtx, e.outbound, func(_ context.Context) (string, error) {
		// The subscription lives as long as subCtx, not as one attempt.
		return e.store.Subscribe(subCtx, keys, md, deliver)
	})
	if err != nil {
		cancel()
		return "", daprerr.Wrap(daprerr.ConfigurationSubscribe, err, "failed to subscribe %v from Configuration store %s", keys, store)
	}
	s.mu.Lock()
	s.subs[id] = cancel
	s.mu.Unlock()
	context.AfterFunc(subCtx, func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	})
	return id, nil
}

// Unsubscribe asks store to end the subscription id, as daprd's HTTP API
// does.
func (s *Service) Unsubscribe(ctx context.Context, store, id string) error {
	e, err := s.find(store)
	if err != nil {
		return err
	}
	_, err = resiliency.Call(ctx, e.outbound, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.store.Unsubscribe(ctx, id)
	})
	s.Stop(id)
	if err != nil {
		return daprerr.Wrap(daprerr.ConfigurationUnsubscribe, err, "failed to unsubscribe to configuration request %s", id)
	}
	return nil
}

// Stop ends the subscription id, whichever store holds it, and reports
// whether there was one: daprd's gRPC UnsubscribeConfiguration.
func (s *Service) Stop(id string) bool {
	s.mu.Lock()
	cancel, ok := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}
