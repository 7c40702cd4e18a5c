package components

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
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

// Info describes one registered component type.
type Info struct {
	// Type is the Dapr type, "<kind>.<name>", e.g. "state.sqlite".
	Type string
	// Versions lists the accepted versions; empty means only "v1".
	Versions []string
	// New returns a fresh, uninitialised instance.
	New func() any
}

// Kind returns the part of the type before the first dot ("state").
func (i Info) Kind() string {
	k, _, _ := strings.Cut(i.Type, ".")
	return k
}

var (
	mu       sync.RWMutex
	registry = map[string]Info{}
)

// Register adds a component type. It panics on a duplicate or malformed
// registration: both are programming errors found at startup.
func Register(info Info) {
	if !strings.Contains(info.Type, ".") || info.New == nil {
		panic(fmt.Sprintf("components: bad registration %q", info.Type))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[info.Type]; dup {
		panic(fmt.Sprintf("components: %q registered twice", info.Type))
	}
	registry[info.Type] = info
}

// Lookup finds a registered type and checks the version. Its errors list
// what is available so a user can fix the component file.
func Lookup(typ, version string) (Info, error) {
	mu.RLock()
	info, ok := registry[typ]
	mu.RUnlock()
	if !ok {
		kind, _, _ := strings.Cut(typ, ".")
		known := Types(kind)
		if len(known) == 0 {
			return Info{}, fmt.Errorf("unknown component type %q", typ)
		}
		return Info{}, fmt.Errorf("unknown component type %q; known %s types: %s", typ, kind, strings.Join(known, ", "))
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
