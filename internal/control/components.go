package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/spec"
)

// defaultInitTimeout is Dapr's default for a component's initialisation.
const defaultInitTimeout = 5 * time.Second

// loadedComponent is one component instance shared by every sidecar in
// its scope: one connection pool per component, not per replica.
type loadedComponent struct {
	entry *spec.ComponentEntry
	md    components.Metadata
	store cstate.Store
	err   error
}

// componentSet holds the environment's components.
type componentSet struct {
	items []*loadedComponent
}

// newComponent constructs a component without initialising it. Its errors
// are the ones `cove validate` reports.
func newComponent(c *spec.Component) (any, error) {
	info, err := components.Lookup(c.Type, c.Version)
	if err != nil {
		return nil, err
	}
	inst := info.New()
	if _, ok := inst.(cstate.Store); !ok {
		return nil, fmt.Errorf("component kind %q is not supported yet; state stores are (%v)", info.Kind(), components.Types("state"))
	}
	return inst, nil
}

// resolveMetadata turns metadata items into properties, resolving
// secretRefs against the component's own secrets.
func resolveMetadata(c *spec.Component) (map[string]string, error) {
	props := make(map[string]string, len(c.Metadata))
	for _, m := range c.Metadata {
		if m.SecretRef == "" {
			props[m.Name] = m.Value
			continue
		}
		i := slices.IndexFunc(c.Secrets, func(s spec.ComponentSecret) bool { return s.Name == m.SecretRef })
		if i < 0 {
			return nil, fmt.Errorf("metadata %s: secretRef %q names no secret in the component's secrets", m.Name, m.SecretRef)
		}
		if c.Secrets[i].Value == "" {
			return nil, fmt.Errorf("metadata %s: secret %q has no value (Key Vault secrets cannot be read locally; give it a value)", m.Name, m.SecretRef)
		}
		props[m.Name] = c.Secrets[i].Value
	}
	return props, nil
}

// loadComponents initialises every component. A component that fails stops
// the start unless it says ignoreErrors: true, as in Dapr.
func loadComponents(ctx context.Context, env *spec.Environment, baseDir string, log *slog.Logger, events func(Event)) (*componentSet, error) {
	set := &componentSet{}
	for _, entry := range env.Components {
		c := entry.Component
		lc := &loadedComponent{entry: entry}
		set.items = append(set.items, lc)
		lc.err = set.init(ctx, lc, baseDir)
		if lc.err != nil {
			events(Event{Kind: EventComponent, Component: entry.Name, Err: lc.err})
			if c.IgnoreErrors {
				log.Warn("component failed to load; ignored because ignoreErrors is true", "component", entry.Name, "err", lc.err)
				continue
			}
			return set, fmt.Errorf("component %s (%s, %s): %w", entry.Name, c.Type, entry.File, lc.err)
		}
		events(Event{Kind: EventComponent, Component: entry.Name, Message: fmt.Sprintf("(%s %s) loaded", c.Type, c.Version)})
	}
	return set, nil
}

func (s *componentSet) init(ctx context.Context, lc *loadedComponent, baseDir string) error {
	c := lc.entry.Component
	inst, err := newComponent(c)
	if err != nil {
		return err
	}
	props, err := resolveMetadata(c)
	if err != nil {
		return err
	}
	lc.md = components.Metadata{Name: lc.entry.Name, Type: c.Type, Version: c.Version, Properties: props, BaseDir: baseDir}
	timeout := defaultInitTimeout
	if c.InitTimeout != "" {
		if d, err := time.ParseDuration(c.InitTimeout); err == nil && d > 0 {
			timeout = d
		}
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	store := inst.(cstate.Store)
	if err := store.Init(ictx, lc.md); err != nil {
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("not ready within initTimeout %s: %w", timeout, err)
		}
		return err
	}
	lc.store = store
	return nil
}

// inScope reports whether appID may use the component (no scopes: all).
func (lc *loadedComponent) inScope(appID string) bool {
	scopes := lc.entry.Component.Scopes
	return len(scopes) == 0 || slices.Contains(scopes, appID)
}

// stateStores returns the loaded state stores appID may use.
func (s *componentSet) stateStores(appID string) []*loadedComponent {
	var out []*loadedComponent
	for _, lc := range s.items {
		if lc.store != nil && lc.inScope(appID) {
			out = append(out, lc)
		}
	}
	return out
}

// Status reports each component for the management API.
func (s *componentSet) Status() []ComponentStatus {
	out := make([]ComponentStatus, 0, len(s.items))
	for _, lc := range s.items {
		c := lc.entry.Component
		cs := ComponentStatus{Name: lc.entry.Name, Type: c.Type, Version: c.Version, Scopes: c.Scopes, Status: "loaded"}
		if lc.err != nil {
			cs.Status, cs.Error = "failed", lc.err.Error()
		}
		out = append(out, cs)
	}
	return out
}

// Close closes every loaded component.
func (s *componentSet) Close() error {
	var errs []error
	for _, lc := range s.items {
		if lc.store != nil {
			if err := lc.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close component %s: %w", lc.entry.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
