package control

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// loadComponents initialises the environment's components through the one
// lifecycle both hosts share (resources.Load), reporting each as it loads.
// No AppID: one instance per component serves every app in its scopes.
// proxy is the internal proxy, through which components reach apps by name.
func loadComponents(ctx context.Context, env *spec.Environment, baseDir, proxy string, log *slog.Logger, events func(Event)) (*resources.Set, error) {
	comps := make([]*spec.Component, 0, len(env.Components))
	for _, entry := range env.Components {
		if entry.Component != nil {
			comps = append(comps, entry.Component)
		}
	}
	return resources.Load(ctx, comps, componentOptions(baseDir, proxy, log, events))
}

// componentOptions are how cove up loads components, at start and when a
// reload changes them.
func componentOptions(baseDir, proxy string, log *slog.Logger, events func(Event)) resources.Options {
	return resources.Options{BaseDir: baseDir, HTTPProxy: proxy, Logger: log, Loaded: func(c *resources.Component) {
		if c.Err != nil {
			events(Event{Kind: EventComponent, Component: c.Spec.Name, Err: c.Err})
			return
		}
		events(Event{Kind: EventComponent, Component: c.Spec.Name, Message: fmt.Sprintf("(%s %s) loaded", c.Spec.Type, c.Spec.Version)})
	}}
}

// componentStatus reports each component for the management API.
func componentStatus(set *resources.Set) []ComponentStatus {
	all := set.All()
	out := make([]ComponentStatus, 0, len(all))
	for _, lc := range all {
		c := lc.Spec
		cs := ComponentStatus{Name: c.Name, Type: c.Type, Version: c.Version, Scopes: c.Scopes, Status: "loaded"}
		if lc.Err != nil {
			cs.Status, cs.Error = "failed", lc.Err.Error()
		}
		out = append(out, cs)
	}
	return out
}
