package spec

import (
	"fmt"
	"maps"
	"slices"
)

// fileRef names a file in the environment file: `{file: path}`.
type fileRef struct {
	File string `json:"file"`
}

// daprResources loads the Dapr Resiliency and Configuration files the
// environment file lists:
//
//	resiliency:              # every file applies to the apps in its scopes
//	  - file: dapr/resiliency.yaml
//	configuration:           # the default Configuration of every app
//	  file: dapr/config.yaml
//	subscriptions:           # declarative pub/sub subscriptions
//	  - file: dapr/orders-subscription.yaml
//	apps:
//	  - file: backend.yaml
//	    configuration: {file: dapr/backend-config.yaml}   # this app's own
//
// as daprd reads every Resiliency and Subscription in its resources path
// and one Configuration given by --config.
func (l *loader) daprResources(f *envFile) {
	names := l.d.uniqueNames("resiliency")
	for i, ref := range f.Resiliency {
		rp := indexPath("resiliency", i)
		data, ok := l.refFile(rp, ref.File, "a Dapr Resiliency resource, e.g. dapr/resiliency.yaml")
		if !ok {
			continue
		}
		p := parseResiliency(l.display(ref.File), data)
		l.decoders = append(l.decoders, p.d)
		if p.res == nil {
			continue
		}
		if names.add(rp+".file", p.res.Name) {
			l.env.Resiliency = append(l.env.Resiliency, p.res)
			l.resiliency = append(l.resiliency, p)
		}
	}
	subs := l.d.uniqueNames("subscription")
	for i, ref := range f.Subscriptions {
		sp := indexPath("subscriptions", i)
		data, ok := l.refFile(sp, ref.File, "a Dapr Subscription resource, e.g. dapr/orders-subscription.yaml")
		if !ok {
			continue
		}
		s, d := parseSubscription(l.display(ref.File), data)
		l.decoders = append(l.decoders, d)
		if s != nil && s.Pubsub != "" && !l.hasComponent(s.Pubsub) {
			d.warnf("spec.pubsubname", "no component of the environment is named %q, so this subscription receives nothing", s.Pubsub)
		}
		if s != nil && d.probs.Err() == nil && subs.add(sp+".file", s.Name) {
			l.env.Subscriptions = append(l.env.Subscriptions, s)
		}
	}
	if f.DaprConfig != nil {
		l.env.DaprConfig = l.configuration("configuration", f.DaprConfig)
	}
	byPath := make(map[string]*loadedApp, len(l.apps))
	for _, a := range l.apps {
		byPath[a.path] = a
	}
	for i := range f.Apps {
		ap := indexPath("apps", i)
		a := byPath[ap]
		if ref := f.Apps[i].DaprConfig; ref != nil {
			c := l.configuration(ap+".configuration", ref)
			if a != nil {
				a.entry.DaprConfig = c
			}
		} else if a != nil {
			a.entry.DaprConfig = l.env.DaprConfig
		}
	}
}

func (l *loader) hasComponent(name string) bool {
	for _, c := range l.env.Components {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (l *loader) refFile(path, file, what string) ([]byte, bool) {
	if !l.d.requiredString(path+".file", file, what) {
		return nil, false
	}
	return l.readFile(path+".file", file)
}

func (l *loader) configuration(path string, ref *fileRef) *DaprConfiguration {
	data, ok := l.refFile(path, ref.File, "a Dapr Configuration resource, e.g. dapr/config.yaml")
	if !ok {
		return nil
	}
	c, d := parseConfiguration(l.display(ref.File), data)
	l.decoders = append(l.decoders, d)
	return c
}

// resiliencyChecks warns about scopes and app targets naming no app of
// the environment: they are legal (the app may come later) but likely typos.
func (l *loader) resiliencyChecks() {
	ids := map[string]bool{}
	for _, a := range l.apps {
		if id := a.entry.App.DaprAppID(); id != "" {
			ids[id] = true
		}
	}
	known := slices.Sorted(maps.Keys(ids))
	unknown := func(d *decoder, path, id, what string) {
		if ids[id] || id == "" {
			return
		}
		msg := fmt.Sprintf("no app in the environment has Dapr app id %q, so %s", id, what)
		if s := suggest(id, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.warnf(path, "%s", msg)
	}
	for _, p := range l.resiliency {
		for i, s := range p.res.Scopes {
			unknown(p.d, indexPath("scopes", i), s, "the scope matches nothing")
		}
		for _, id := range sortedKeys(p.res.Spec.Targets.Apps) {
			unknown(p.d, fieldPath("spec.targets.apps", id), id, "these policies apply to nothing")
		}
	}
}
