package components

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/textmatch"
)

// Metadata is what a component receives at Init: its identity and its
// metadata items with every secretRef already resolved.
type Metadata struct {
	// Name is the component's name, e.g. "statestore".
	Name string
	// Type is the Dapr component type, e.g. "state.redis".
	Type string
	// Version is the component version, e.g. "v1".
	Version string
	// Properties holds the metadata items by name (Dapr's keys: redisHost,
	// connectionString, keyPrefix, ...).
	Properties map[string]string
	// AppID is the Dapr app id of the sidecar that loads the component.
	AppID string
	// BaseDir is the directory relative paths in metadata resolve against
	// (the environment's state directory), so an embedded store knows where
	// to put its files.
	BaseDir string
	// HTTPProxy is the URL of the proxy through which the environment's
	// replicas reach apps by name (http://<app>), cove up's internal
	// proxy, so a component that calls URLs reaches them as a replica
	// would; "" outside an environment (cove sidecar).
	HTTPProxy string
}

// Property returns the first non-empty metadata item among names, matching
// names case-insensitively as Dapr does ("connectionString" also finds
// "ConnectionString"). Later names are aliases of the first.
func (m Metadata) Property(names ...string) (string, bool) {
	for _, n := range names {
		for k, v := range m.Properties {
			if v != "" && strings.EqualFold(k, n) {
				return v, true
			}
		}
	}
	return "", false
}

// Duration reads the first of names that is set (see Property) as a whole
// number of seconds ("20") or a Go duration ("20s"), the two forms Dapr's
// components accept for timeouts and intervals. ok is false when none is
// set; err names the item.
func (m Metadata) Duration(names ...string) (d time.Duration, ok bool, err error) {
	v, ok := m.Property(names...)
	if !ok {
		return 0, false, nil
	}
	if d, err = parseSeconds(v); err != nil {
		return 0, true, fmt.Errorf("metadata %s %q: %w", names[0], v, err)
	}
	return d, true, nil
}

// Component is what every component implements, whatever its kind: the
// hosts initialise and close every kind the same way and reach the kind's
// own interface through a type assertion (state.Store, secretstores.Store).
type Component interface {
	// Init prepares the component with its metadata; its errors name the
	// metadata item or address at fault.
	Init(ctx context.Context, md Metadata) error
	Close() error
}

// Info describes one registered component type.
type Info struct {
	// Type is the Dapr type, "<kind>.<name>", e.g. "state.sqlite".
	Type string
	// Versions lists the accepted versions; empty means only "v1".
	Versions []string
	// New returns a fresh, uninitialised instance.
	New func() any
	// Check, when set, finds what is wrong in a component's literal
	// metadata values (secret and env references left out) without
	// running it, for cove validate; a *MetadataError names the item.
	Check func(props map[string]string) error
}

// MetadataError is a Check error about one metadata item's value.
type MetadataError struct {
	Item string
	Err  error
}

func (e *MetadataError) Error() string { return e.Item + ": " + e.Err.Error() }

func (e *MetadataError) Unwrap() error { return e.Err }

// Kind returns the part of the type before the first dot ("state").
func (i Info) Kind() string {
	k, _, _ := strings.Cut(i.Type, ".")
	return k
}

// Kind is a kind of component the hosts load from component files (state
// stores, secret stores, ...). Its interface package registers it; each
// type of the kind is then checked against it when it registers.
type Kind struct {
	// Name is the first part of the kind's types ("state").
	Name string
	// Implements reports whether an instance implements the kind's
	// interface.
	Implements func(v any) bool
}

// ErrNotSupported marks a component type Dapr has that cove does not run
// yet: a real environment may hold it, so ignoreErrors lets it be skipped.
var ErrNotSupported = errors.New("not supported yet by cove")

var (
	mu       sync.RWMutex
	registry = map[string]Info{}
	kinds    = map[string]Kind{}
)

// RegisterKind makes a kind loadable from component files. It panics on a
// duplicate: a programming error found at startup.
func RegisterKind(k Kind) {
	if k.Name == "" || k.Implements == nil {
		panic(fmt.Sprintf("components: bad kind registration %q", k.Name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("components: kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

// Register adds a component type. It panics on a duplicate or malformed
// registration, or a type that does not implement Component or its kind's
// interface: all are programming errors found at startup. A kind's
// interface package registers the kind before its types register, as the
// types import it.
func Register(info Info) {
	if !strings.Contains(info.Type, ".") || info.New == nil {
		panic(fmt.Sprintf("components: bad registration %q", info.Type))
	}
	v := info.New()
	if _, ok := v.(Component); !ok {
		panic(fmt.Sprintf("components: %q does not implement components.Component", info.Type))
	}
	mu.Lock()
	defer mu.Unlock()
	if k, ok := kinds[info.Kind()]; ok && !k.Implements(v) {
		panic(fmt.Sprintf("components: %q does not implement the %s interface", info.Type, k.Name))
	}
	if _, dup := registry[info.Type]; dup {
		panic(fmt.Sprintf("components: %q registered twice", info.Type))
	}
	registry[info.Type] = info
}

// Lookup finds a registered type and checks the version. Its errors tell a
// Dapr type cove does not run yet (wrapping ErrNotSupported) from a type
// nobody knows (with the likely intended one), and list what is available,
// so a user can fix the component file.
func Lookup(typ, version string) (Info, error) {
	mu.RLock()
	info, ok := registry[typ]
	mu.RUnlock()
	if !ok {
		return Info{}, unknownType(typ)
	}
	versions := info.Versions
	if len(versions) == 0 {
		versions = []string{"v1"}
	}
	if version == "" {
		version = "v1"
	}
	if !slices.Contains(versions, version) {
		return Info{}, fmt.Errorf("component type %q has no version %q; use one of: %s", typ, version, strings.Join(versions, ", "))
	}
	return info, nil
}

// LookupComponent is Lookup for a type loaded from a component file: its
// kind must be one the hosts load (see RegisterKind).
func LookupComponent(typ, version string) (Info, error) {
	info, err := Lookup(typ, version)
	if err != nil {
		return Info{}, err
	}
	mu.RLock()
	_, ok := kinds[info.Kind()]
	mu.RUnlock()
	if !ok {
		return Info{}, fmt.Errorf("component type %q is %w as a component file: cove loads %s components from component files (%s components are chosen elsewhere, e.g. a Configuration's spec.nameResolution)",
			typ, ErrNotSupported, strings.Join(Kinds(), ", "), info.Kind())
	}
	return info, nil
}

// unknownType explains a type that is not registered.
func unknownType(typ string) error {
	kind, _, _ := strings.Cut(typ, ".")
	known := Types(kind)
	if IsDaprType(typ) {
		if len(known) == 0 {
			return fmt.Errorf("component type %q is %w: cove runs no %s components yet", typ, ErrNotSupported, kind)
		}
		return fmt.Errorf("component type %q is %w; the %s types it runs are: %s", typ, ErrNotSupported, kind, strings.Join(known, ", "))
	}
	if s := textmatch.Closest(typ, append(Types(""), daprTypes...)); s != "" {
		return fmt.Errorf("unknown component type %q; did you mean %q?", typ, s)
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown component type %q", typ)
	}
	return fmt.Errorf("unknown component type %q; known %s types: %s", typ, kind, strings.Join(known, ", "))
}

// Kinds lists the kinds loaded from component files, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(kinds))
}

// Types lists the registered types of one kind ("state"), or of all kinds
// when kind is empty, sorted.
func Types(kind string) []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for t, info := range registry {
		if kind == "" || info.Kind() == kind {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// KindOf is the Kind name whose interface is T.
func KindOf[T any](name string) Kind {
	return Kind{Name: name, Implements: func(v any) bool { _, ok := v.(T); return ok }}
}
