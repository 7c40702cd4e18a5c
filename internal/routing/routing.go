// Package routing holds the environment's live topology as the data plane
// sees it: which apps exist, how their ingress is configured, and which
// replicas are ready to take traffic. The control plane builds a new Table
// whenever something changes and swaps it in atomically; the edge, the
// internal proxy and the sidecars' resolver read it on every request without
// locks.
//
// It imports nothing of cove's, so every data plane package may use it.
package routing

import (
	"sort"
	"sync/atomic"
)

// Endpoint is one ready replica an app's traffic can go to.
type Endpoint struct {
	App      string
	Revision string
	Replica  string
	// Addr is host:port of the replica's main port (its PORT).
	Addr string
}

// Ingress is the part of an app's ingress configuration the router needs.
type Ingress struct {
	External   bool
	TargetPort int
	Transport  string
}

// App is one app's routing entry.
type App struct {
	Name string
	// Ingress is nil when ingress is disabled.
	Ingress *Ingress
	// DaprAppID is set when Dapr is enabled.
	DaprAppID string
	// Endpoints are the ready replicas, in a stable order.
	Endpoints []Endpoint

	next atomic.Uint64
}

// Pick returns the next ready endpoint by round robin, or false when the app
// has none ready.
func (a *App) Pick() (Endpoint, bool) {
	n := len(a.Endpoints)
	if n == 0 {
		return Endpoint{}, false
	}
	i := a.next.Add(1) - 1
	return a.Endpoints[i%uint64(n)], true
}

// Table is an immutable snapshot of the topology. Build it with NewTable.
type Table struct {
	apps    map[string]*App
	byAppID map[string]*App
}

// NewTable indexes apps by name and by Dapr app id. Endpoint order is made
// stable so round robin does not depend on map iteration.
func NewTable(apps []*App) *Table {
	t := &Table{apps: map[string]*App{}, byAppID: map[string]*App{}}
	for _, a := range apps {
		sort.Slice(a.Endpoints, func(i, j int) bool { return a.Endpoints[i].Replica < a.Endpoints[j].Replica })
		t.apps[a.Name] = a
		if a.DaprAppID != "" {
			t.byAppID[a.DaprAppID] = a
		}
	}
	return t
}

// App finds an app by name.
func (t *Table) App(name string) (*App, bool) {
	a, ok := t.apps[name]
	return a, ok
}

// DaprApp finds an app by its Dapr app id.
func (t *Table) DaprApp(appID string) (*App, bool) {
	a, ok := t.byAppID[appID]
	return a, ok
}

// Apps returns every app, sorted by name.
func (t *Table) Apps() []*App {
	out := make([]*App, 0, len(t.apps))
	for _, a := range t.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Source is where readers get the current table. The zero value holds an
// empty table.
type Source struct {
	cur atomic.Pointer[Table]
}

// Load returns the current table (never nil).
func (s *Source) Load() *Table {
	if t := s.cur.Load(); t != nil {
		return t
	}
	return NewTable(nil)
}

// Store swaps in a new table.
func (s *Source) Store(t *Table) { s.cur.Store(t) }
