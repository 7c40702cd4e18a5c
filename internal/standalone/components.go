package standalone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	blockstate "github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/spec"
)

// defaultInitTimeout is Dapr's default for a component's initialisation.
const defaultInitTimeout = 5 * time.Second

// loadedStore is one initialised state store.
type loadedStore struct {
	md    components.Metadata
	store cstate.Store
}

// initComponents initialises the state stores among comps. Components of
// kinds cove does not run yet are skipped with a warning, so daprd's usual
// resources directory (a state store and a pub/sub) still starts; a
// component that fails stops the start unless it says ignoreErrors.
func initComponents(ctx context.Context, comps []*spec.Component, appID, baseDir string, log *slog.Logger) ([]loadedStore, error) {
	var out []loadedStore
	for _, c := range comps {
		if c.Kind() != "state" {
			log.Warn("component kind not supported yet; skipped", slog.String("component", c.Name),
				slog.String("type", c.Type), slog.String("file", c.File))
			continue
		}
		st, err := initStore(ctx, c, appID, baseDir)
		if err == nil {
			out = append(out, st)
			log.Info("component loaded", slog.String("component", c.Name), slog.String("type", c.Type), slog.String("version", c.Version))
			continue
		}
		err = fmt.Errorf("component %s (%s) in %s: %w", c.Name, c.Type, location(c), err)
		if c.IgnoreErrors {
			log.Warn("component failed to load; ignored because ignoreErrors is true", slog.Any("error", err))
			continue
		}
		closeStores(out)
		return nil, err
	}
	return out, nil
}

func location(c *spec.Component) string {
	if c.TypeLine > 0 {
		return fmt.Sprintf("%s:%d", c.File, c.TypeLine)
	}
	return c.File
}

func initStore(ctx context.Context, c *spec.Component, appID, baseDir string) (loadedStore, error) {
	info, err := components.Lookup(c.Type, c.Version)
	if err != nil {
		return loadedStore{}, err
	}
	store, ok := info.New().(cstate.Store)
	if !ok {
		return loadedStore{}, fmt.Errorf("type %s is not a state store", c.Type)
	}
	props, err := resolveMetadata(c)
	if err != nil {
		return loadedStore{}, err
	}
	md := components.Metadata{Name: c.Name, Type: c.Type, Version: c.Version, Properties: props, AppID: appID, BaseDir: baseDir}
	timeout := defaultInitTimeout
	if c.InitTimeout != "" {
		if d, err := time.ParseDuration(c.InitTimeout); err == nil && d > 0 {
			timeout = d
		}
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := store.Init(ictx, md); err != nil {
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			return loadedStore{}, fmt.Errorf("not ready within initTimeout %s: %w", timeout, err)
		}
		return loadedStore{}, err
	}
	return loadedStore{md: md, store: store}, nil
}

// resolveMetadata turns metadata items into properties: plain values, the
// ACA format's own secrets, and Dapr's envRef. Secret stores are not
// supported yet, so a secretKeyRef is an error naming the item.
func resolveMetadata(c *spec.Component) (map[string]string, error) {
	props := make(map[string]string, len(c.Metadata))
	for _, m := range c.Metadata {
		switch {
		case m.EnvRef != "":
			props[m.Name] = os.Getenv(m.EnvRef)
		case m.SecretRef == "":
			props[m.Name] = m.Value
		case c.Format == spec.FormatDapr || c.SecretStore != "":
			return nil, fmt.Errorf("metadata %s: secret stores are not supported yet; give the value (or an envRef) instead of a secret reference", m.Name)
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

// stateService builds the app's state block over the loaded stores.
func stateService(appID, namespace string, stores []loadedStore, log *slog.Logger) (*blockstate.Service, error) {
	svc := blockstate.NewWithOptions(appID, blockstate.Options{Namespace: namespace, Logger: log})
	for _, st := range stores {
		if err := svc.Add(st.md, st.store); err != nil {
			return nil, fmt.Errorf("state store %s: %w", st.md.Name, err)
		}
	}
	return svc, nil
}

func closeStores(stores []loadedStore) error {
	var errs []error
	for _, st := range stores {
		if err := st.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close component %s: %w", st.md.Name, err))
		}
	}
	return errors.Join(errs...)
}
