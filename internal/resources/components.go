package resources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/spec"
)

// DefaultInitTimeout is Dapr's default for a component's initialisation.
const DefaultInitTimeout = 5 * time.Second

// Store is one initialised state store and the metadata it was
// initialised with.
type Store struct {
	Metadata components.Metadata
	Store    cstate.Store
}

// NewStore constructs c's state store from the registry without
// initialising it. Its errors are the ones validation reports: a type or
// version not registered, a kind cove does not run yet.
func NewStore(c *spec.Component) (cstate.Store, error) {
	info, err := components.Lookup(c.Type, c.Version)
	if err != nil {
		return nil, err
	}
	store, ok := info.New().(cstate.Store)
	if !ok {
		return nil, fmt.Errorf("component kind %q is not supported yet; state stores are (%v)", info.Kind(), components.Types("state"))
	}
	return store, nil
}

// ResolveMetadata resolves c's metadata without any secret store loaded;
// see ResolveMetadataFrom.
func ResolveMetadata(c *spec.Component) (map[string]string, error) {
	return ResolveMetadataFrom(context.Background(), c, nil)
}

// ResolveMetadataFrom turns metadata items into properties: plain values,
// the ACA format's own secrets, Dapr's envRef (read from this process's
// environment) and references into the secret store c names (Dapr's
// secretKeyRef with auth.secretStore, ACA's secretRef with
// secretStoreComponent), read from stores. Errors name the item's field.
func ResolveMetadataFrom(ctx context.Context, c *spec.Component, stores SecretStores) (map[string]string, error) {
	props := make(map[string]string, len(c.Metadata))
	for i, m := range c.Metadata {
		switch {
		case m.EnvRef != "":
			props[m.Name] = os.Getenv(m.EnvRef)
		case m.SecretRef == "":
			props[m.Name] = m.Value
		case c.Format == spec.FormatDapr || c.SecretStore != "":
			v, err := stores.lookup(ctx, c, m)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", refField(c, i), m.Name, err)
			}
			props[m.Name] = v
		default:
			i := slices.IndexFunc(c.Secrets, func(s spec.ComponentSecret) bool { return s.Name == m.SecretRef })
			if i < 0 {
				return nil, fmt.Errorf("metadata %s: secretRef %q names no secret in the component's secrets", m.Name, m.SecretRef)
			}
			if c.Secrets[i].Value == "" {
				return nil, fmt.Errorf("metadata %s: secret %q has no value (Key Vault secrets cannot be read locally; give it a value)", m.Name, m.SecretRef)
			}
			props[m.Name] = c.Secrets[i].Value
		}
	}
	return props, nil
}

// InitTimeout is c's initTimeout, Dapr's default when unset or invalid.
func InitTimeout(c *spec.Component) time.Duration {
	if c.InitTimeout != "" {
		if d, err := time.ParseDuration(c.InitTimeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultInitTimeout
}

// LoadStore constructs c's state store, resolves its metadata and
// initialises it within its initTimeout. md supplies what the caller
// decides (Name, AppID, BaseDir); type, version and properties come from c.
// It reads no secret store; LoadStoreWithSecrets does.
func LoadStore(ctx context.Context, c *spec.Component, md components.Metadata) (Store, error) {
	return LoadStoreWithSecrets(ctx, c, md, nil)
}

// LoadStoreWithSecrets is LoadStore with c's secret store references read
// from stores, the secret stores loaded before it.
func LoadStoreWithSecrets(ctx context.Context, c *spec.Component, md components.Metadata, stores SecretStores) (Store, error) {
	store, err := NewStore(c)
	if err != nil {
		return Store{}, err
	}
	if err := initComponent(ctx, c, &md, stores, store.Init); err != nil {
		return Store{}, err
	}
	return Store{Metadata: md, Store: store}, nil
}

// initComponent resolves c's metadata into md and runs init within c's
// initTimeout.
func initComponent(ctx context.Context, c *spec.Component, md *components.Metadata, stores SecretStores,
	init func(context.Context, components.Metadata) error) error {
	props, err := ResolveMetadataFrom(ctx, c, stores)
	if err != nil {
		return err
	}
	md.Type, md.Version, md.Properties = c.Type, c.Version, props
	timeout := InitTimeout(c)
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := init(ictx, *md); err != nil {
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("not ready within initTimeout %s: %w", timeout, err)
		}
		return err
	}
	return nil
}

// CloseStores closes every store, joining their errors.
func CloseStores(stores []Store) error {
	return closeAll(stores, func(st Store) (string, io.Closer) { return st.Metadata.Name, st.Store })
}

// closeAll closes what each item holds, naming the component in each
// error, and joins the errors; an item holding nothing is skipped.
func closeAll[T any](items []T, held func(T) (string, io.Closer)) error {
	var errs []error
	for _, it := range items {
		name, c := held(it)
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close component %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
