package secrets

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/daprerr"
)

// Scope limits which secrets of one store an app may read, as a Dapr
// Configuration's secrets.scopes entry does.
type Scope struct {
	// DefaultAccess is "allow" (the default) or "deny".
	DefaultAccess string
	// AllowedSecrets, when not empty, are the only readable secrets.
	AllowedSecrets []string
	// DeniedSecrets are unreadable whatever DefaultAccess says.
	DeniedSecrets []string
}

// Allows applies Dapr's precedence: a non-empty allow list decides alone;
// then the deny list; then the default access.
func (sc Scope) Allows(name string) bool {
	if len(sc.AllowedSecrets) > 0 {
		return slices.Contains(sc.AllowedSecrets, name)
	}
	if slices.Contains(sc.DeniedSecrets, name) {
		return false
	}
	return !strings.EqualFold(sc.DefaultAccess, "deny")
}

// Options configure a Service beyond its app id.
type Options struct {
	// Scopes are the access scopes by store name; a store without one
	// allows every secret.
	Scopes map[string]Scope
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// StoreInfo describes a loaded store for the metadata API.
type StoreInfo struct {
	Name    string
	Type    string
	Version string
}

// Service is one app's secrets API. It is safe for concurrent use.
type Service struct {
	appID  string
	scopes map[string]Scope
	log    *slog.Logger

	mu     sync.RWMutex
	stores map[string]entry
}

type entry struct {
	info  StoreInfo
	store secretstores.Store
}

// New returns a Service for appID with no stores.
func New(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		appID:  appID,
		scopes: maps.Clone(opts.Scopes),
		log:    log.With("app", appID, "block", "secrets"),
		stores: map[string]entry{},
	}
}

// Add makes an initialised store available under md.Name. The store stays
// the caller's: one store may serve several apps, so Close does not close
// it.
func (s *Service) Add(md components.Metadata, store secretstores.Store) error {
	if md.Name == "" {
		return daprerr.New(daprerr.BadRequest, "a secret store needs a name")
	}
	if store == nil {
		return daprerr.New(daprerr.BadRequest, "secret store %s: no store given", md.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.stores[md.Name]; dup {
		return daprerr.New(daprerr.BadRequest, "secret store %s is already added", md.Name)
	}
	s.stores[md.Name] = entry{info: StoreInfo{Name: md.Name, Type: md.Type, Version: md.Version}, store: store}
	return nil
}

// Stores lists the added stores by name.
func (s *Service) Stores() []StoreInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]StoreInfo, 0, len(s.stores))
	for _, e := range s.stores {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close forgets the stores without closing them.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stores = map[string]entry{}
	return nil
}

// lookup finds a store, with daprd's errors and order: none configured
// first, then the name.
func (s *Service) lookup(name string) (secretstores.Store, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.stores) == 0 {
		return nil, daprerr.New(daprerr.SecretStoresNotConfigured, "secret store is not configured")
	}
	e, ok := s.stores[name]
	if !ok {
		return nil, daprerr.New(daprerr.SecretStoreNotFound, "failed finding secret store with key %s", name)
	}
	return e.store, nil
}

func (s *Service) allowed(store, name string) bool {
	sc, ok := s.scopes[store]
	return !ok || sc.Allows(name)
}

// Get reads one secret: its key/value pairs, {name: value} for name/value
// stores. A secret the app's scope denies is ERR_PERMISSION_DENIED.
func (s *Service) Get(ctx context.Context, store, name string, metadata map[string]string) (map[string]string, error) {
	st, err := s.lookup(store)
	if err != nil {
		return nil, err
	}
	if !s.allowed(store, name) {
		return nil, daprerr.New(daprerr.SecretPermissionDenied, "access denied by policy to get %q from %q", name, store)
	}
	data, err := st.GetSecret(ctx, secretstores.GetRequest{Name: name, Metadata: metadata})
	if err != nil {
		return nil, daprerr.Wrap(daprerr.SecretGet, err, "failed getting secret with key %s from secret store %s", name, store)
	}
	if data == nil {
		data = map[string]string{}
	}
	return data, nil
}

// BulkGet reads every secret of a store the app's scope allows; denied
// ones are left out, as in Dapr.
func (s *Service) BulkGet(ctx context.Context, store string, metadata map[string]string) (map[string]map[string]string, error) {
	st, err := s.lookup(store)
	if err != nil {
		return nil, err
	}
	all, err := st.BulkGetSecret(ctx, secretstores.BulkGetRequest{Metadata: metadata})
	if err != nil {
		return nil, daprerr.Wrap(daprerr.SecretGet, err, "failed getting secrets from secret store %s", store)
	}
	out := make(map[string]map[string]string, len(all))
	for name, v := range all {
		if !s.allowed(store, name) {
			s.log.DebugContext(ctx, "secret left out of a bulk read by the app's scope", "store", store, "secret", name)
			continue
		}
		out[name] = v
	}
	return out, nil
}
