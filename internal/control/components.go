package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	blocksecrets "github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
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
	// secrets is set instead of store for a secret store component.
	secrets secretstores.Store
	err     error
}

// componentSet holds the environment's components.
type componentSet struct {
	items []*loadedComponent
}

// loadComponents initialises every component, secret stores first so the
// others' secretKeyRefs can read them. A component that fails stops the
// start unless it says ignoreErrors: true, as in Dapr.
func loadComponents(ctx context.Context, env *spec.Environment, baseDir string, log *slog.Logger, events func(Event)) (*componentSet, error) {
	set := &componentSet{}
	ordered := make([]*spec.ComponentEntry, 0, len(env.Components))
	for _, secretsFirst := range []bool{true, false} {
		for _, entry := range env.Components {
			if entry.Component != nil && resources.IsSecretStore(entry.Component) == secretsFirst {
				ordered = append(ordered, entry)
			}
		}
	}
	for _, entry := range ordered {
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
	md := components.Metadata{Name: lc.entry.Name, BaseDir: baseDir}
	if resources.IsSecretStore(lc.entry.Component) {
		st, err := resources.LoadSecretStore(ctx, lc.entry.Component, md, s.loadedSecretStores())
		if err != nil {
			return err
		}
		lc.md, lc.secrets = st.Metadata, st.Store
		return nil
	}
	st, err := resources.LoadStoreWithSecrets(ctx, lc.entry.Component, md, s.loadedSecretStores())
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

// loadedSecretStores are the secret stores loaded so far, by name.
func (s *componentSet) loadedSecretStores() resources.SecretStores {
	out := resources.SecretStores{}
	for _, lc := range s.items {
		if lc.secrets != nil {
			out[lc.entry.Name] = lc.secrets
		}
	}
	return out
}

// secretsBlock builds appID's secrets block over the secret stores in its
// scope, limited by its Dapr Configuration's secrets.scopes; nil (no block:
// ERR_SECRET_STORES_NOT_CONFIGURED) when there are none.
func (s *componentSet) secretsBlock(appID string, cfg *spec.DaprConfiguration, log *slog.Logger) *blocksecrets.Service {
	var svc *blocksecrets.Service
	for _, lc := range s.items {
		if lc.secrets == nil || !lc.entry.Component.InScope(appID) {
			continue
		}
		if svc == nil {
			svc = blocksecrets.New(appID, blocksecrets.Options{Logger: log, Scopes: resources.SecretScopes(cfg)})
		}
		// Component names are unique (spec checks), so Add cannot fail
		// on a duplicate; log rather than lose the app over it.
		if err := svc.Add(lc.md, lc.secrets); err != nil {
			log.Error("secret store not added", "app", appID, "component", lc.entry.Name, "err", err)
		}
	}
	return svc
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
		if lc.secrets != nil {
			if err := lc.secrets.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close component %s: %w", lc.entry.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
