package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

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
	// No AppID: one instance serves every app in the component's scopes.
	st, err := resources.LoadStore(ctx, lc.entry.Component, components.Metadata{Name: lc.entry.Name, BaseDir: baseDir})
	if err != nil {
		return err
	}
	lc.md, lc.store = st.Metadata, st.Store
	return nil
}

// stateStores returns the loaded state stores appID may use.
func (s *componentSet) stateStores(appID string) []*loadedComponent {
	var out []*loadedComponent
	for _, lc := range s.items {
		if lc.store != nil && lc.entry.Component.InScope(appID) {
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
