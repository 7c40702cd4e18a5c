package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/spec"
)

// Component is one component of any kind: initialised, or failed and
// skipped because it says ignoreErrors.
type Component struct {
	Spec *spec.Component
	// Metadata is what the component was initialised with.
	Metadata components.Metadata
	// Instance implements its kind's interface (reach it with Of); nil when
	// Err is set.
	Instance components.Component
	// Err is why the component did not load.
	Err error
}

// Set is a host's components, in the order they loaded. A component in
// the Set serves every app in its scopes: one connection pool per
// component, not one per app or replica.
type Set struct {
	items []*Component
}

// Options say what a host decides about its components.
type Options struct {
	// AppID is the app the components are loaded for (cove sidecar); ""
	// when one instance serves every app in its scopes (cove up).
	AppID string
	// BaseDir resolves relative paths in metadata.
	BaseDir string
	// HTTPProxy is given to components as components.Metadata.HTTPProxy.
	HTTPProxy string
	// Logger receives the warnings about components skipped; default
	// slog.Default().
	Logger *slog.Logger
	// Loaded, when set, is told about each component as it loads or fails.
	Loaded func(*Component)
}

// Load initialises comps, whatever their kinds, as daprd does: secret
// stores first, so the others' secretKeyRefs can read them; each
// constructed from the registry, its metadata resolved (values, envRef,
// secretRef, secretKeyRef) and initialised within its initTimeout. A
// component that fails is skipped with a warning when it says
// ignoreErrors (a kind cove does not run yet included); otherwise Load
// closes every component it opened and returns the error, naming the
// component, its file and line.
func Load(ctx context.Context, comps []*spec.Component, opts Options) (*Set, error) {
	set := &Set{}
	if err := set.loadAll(ctx, comps, opts); err != nil {
		return nil, err
	}
	return set, nil
}

// loadAll loads comps into s as Load describes; on failure it closes the
// ones it loaded, leaving the components s had before.
func (s *Set) loadAll(ctx context.Context, comps []*spec.Component, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	loaded := &Set{}
	for _, secretsFirst := range []bool{true, false} {
		for _, c := range comps {
			if (c.Kind() == secretstores.Kind) != secretsFirst {
				continue
			}
			lc := s.load(ctx, c, opts, lookup)
			s.items = append(s.items, lc)
			loaded.items = append(loaded.items, lc)
			if opts.Loaded != nil {
				opts.Loaded(lc)
			}
			if lc.Err == nil {
				continue
			}
			err := fmt.Errorf("component %s (%s)%s: %w", c.Name, c.Type, in(c), lc.Err)
			if c.IgnoreErrors {
				log.Warn("component failed to load; ignored because ignoreErrors is true", slog.Any("error", err))
				continue
			}
			if cerr := loaded.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			return err
		}
	}
	return nil
}

// Init constructs and initialises one component no component file
// declares (name resolution, which a Configuration names) through the
// steps Load takes: the registry, metadata resolution, initTimeout. Its
// kind need not be one Load takes. The caller closes what it returns.
func Init(ctx context.Context, c *spec.Component, opts Options) (*Component, error) {
	lc := (&Set{}).load(ctx, c, opts, func(c *spec.Component) (components.Info, error) {
		return components.Lookup(c.Type, c.Version)
	})
	return lc, lc.Err
}

// load constructs, resolves and initialises one component, its type found
// by find.
func (s *Set) load(ctx context.Context, c *spec.Component, opts Options, find func(*spec.Component) (components.Info, error)) *Component {
	lc := &Component{Spec: c, Metadata: components.Metadata{Name: c.Name, AppID: opts.AppID, BaseDir: opts.BaseDir, HTTPProxy: opts.HTTPProxy}}
	info, err := find(c)
	if err != nil {
		lc.Err = err
		return lc
	}
	inst := info.New().(components.Component) // Register checked it
	if lc.Err = initComponent(ctx, c, &lc.Metadata, s.secretStores(), inst.Init); lc.Err != nil {
		return lc
	}
	lc.Instance = inst
	return lc
}

// CheckType reports whether c's type is registered in its version and of
// a kind cove loads from component files, and what its type's Check finds
// in its metadata; its errors are the ones
// validation shows, wrapping components.ErrNotSupported for a Dapr type
// cove does not run yet.
func CheckType(c *spec.Component) error {
	info, err := lookup(c)
	if err != nil || info.Check == nil {
		return err
	}
	props := map[string]string{}
	for _, m := range c.Metadata {
		if m.SecretRef == "" && m.EnvRef == "" {
			props[m.Name] = m.Value
		}
	}
	err = info.Check(props)
	if me, ok := errors.AsType[*components.MetadataError](err); ok {
		return &spec.MetadataError{Item: me.Item, Err: me.Err}
	}
	return err
}

// lookup finds c's type in the registry. A type cove does not run yet
// stops the start unless c says ignoreErrors, and the error says so.
func lookup(c *spec.Component) (components.Info, error) {
	info, err := components.LookupComponent(c.Type, c.Version)
	if errors.Is(err, components.ErrNotSupported) && !c.IgnoreErrors {
		err = fmt.Errorf("%w; with ignoreErrors: true it is skipped", err)
	}
	return info, err
}

// in says where c's type is written: " in file:line", " in file", or
// nothing for a component that comes from no file.
func in(c *spec.Component) string {
	switch {
	case c.File == "":
		return ""
	case c.TypeLine > 0:
		return fmt.Sprintf(" in %s:%d", c.File, c.TypeLine)
	}
	return " in " + c.File
}

// All returns every component, the failed ones included, in load order.
func (s *Set) All() []*Component {
	if s == nil {
		return nil
	}
	return s.items
}

// Instance is one loaded component as its kind's interface T.
type Instance[T any] struct {
	Metadata components.Metadata
	Instance T
}

// Of returns the loaded components in appID's scope whose instance
// implements T (state.Store, secretstores.Store, ...), in load order: the
// typed access a building block needs. A nil Set has none.
func Of[T any](s *Set, appID string) []Instance[T] {
	var out []Instance[T]
	for _, lc := range s.All() {
		if lc.Instance == nil || !lc.Spec.InScope(appID) {
			continue
		}
		if v, ok := lc.Instance.(T); ok {
			out = append(out, Instance[T]{Metadata: lc.Metadata, Instance: v})
		}
	}
	return out
}

// secretStores are the secret stores loaded so far, by name, whatever
// their scopes: a component's secretKeyRef may read any of them, as in
// daprd.
func (s *Set) secretStores() SecretStores {
	out := SecretStores{}
	for _, lc := range s.items {
		if st, ok := lc.Instance.(secretstores.Store); ok {
			out[lc.Spec.Name] = st
		}
	}
	return out
}

// Close closes every loaded component, last loaded first (a secret store
// outlives what read it), joining the errors. A nil Set has nothing to
// close.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for i := len(s.items) - 1; i >= 0; i-- {
		lc := s.items[i]
		if lc.Instance == nil {
			continue
		}
		if err := lc.Instance.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close component %s: %w", lc.Spec.Name, err))
		}
		lc.Instance = nil
	}
	return errors.Join(errs...)
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

// Update returns a Set in which the components of changed (new ones, and
// new versions of ones s has, by name) are loaded anew, through the steps
// Load takes, and those named in removed are gone; every other component
// is s's own instance, shared. It also returns the components of s the new
// Set no longer has, for the caller to close (Close) once nothing uses
// them. A component that fails to load, unless it says ignoreErrors,
// closes what Update loaded and returns the error; s is never changed.
func (s *Set) Update(ctx context.Context, changed []*spec.Component, removed []string, opts Options) (*Set, []*Component, error) {
	drop := map[string]bool{}
	for _, name := range removed {
		drop[name] = true
	}
	for _, c := range changed {
		drop[c.Name] = true
	}
	next := &Set{}
	var dropped []*Component
	for _, lc := range s.All() {
		if drop[lc.Spec.Name] {
			dropped = append(dropped, lc)
			continue
		}
		next.items = append(next.items, lc)
	}
	if err := next.loadAll(ctx, changed, opts); err != nil {
		return nil, nil, err
	}
	return next, dropped, nil
}

// Close closes the components, last first, as Set.Close does.
func Close(comps []*Component) error {
	return (&Set{items: comps}).Close()
}
