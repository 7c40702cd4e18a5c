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
	"net/netip"
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

// Transports of an app's ingress, as ACA names them.
const (
	// TransportAuto speaks HTTP/1.1 to the app (and upgrades to WebSocket).
	TransportAuto = "auto"
	// TransportHTTP forces HTTP/1.1 to the app.
	TransportHTTP = "http"
	// TransportHTTP2 speaks cleartext HTTP/2 (h2c) to the app, end to end,
	// which gRPC needs.
	TransportHTTP2 = "http2"
)

// ClientCertMode is what the edge does with TLS client certificates for an
// app: ignore them, accept them when offered, or require one.
type ClientCertMode string

// Client certificate modes, as ACA names them.
const (
	ClientCertIgnore  ClientCertMode = "ignore"
	ClientCertAccept  ClientCertMode = "accept"
	ClientCertRequire ClientCertMode = "require"
)

// Ingress is the part of an app's ingress configuration the router needs.
type Ingress struct {
	External   bool
	TargetPort int
	// Transport is TransportAuto (also when empty), TransportHTTP or
	// TransportHTTP2.
	Transport string
	// AllowInsecure serves plain HTTP on the public edge; when false, plain
	// HTTP requests are redirected to HTTPS.
	AllowInsecure bool
	// IPRules restrict which client addresses reach the app through the
	// public edge; nil allows every address.
	IPRules *IPRules
	// CORS is the app's cross-origin policy, applied at the public edge;
	// nil leaves CORS to the app.
	CORS *CORS
	// Sticky pins a client to a replica with a cookie.
	Sticky bool
	// ClientCert is the client certificate mode; empty means ignore.
	ClientCert ClientCertMode
}

// IPRules is an app's ipSecurityRestrictions: every rule has the same
// action, so the set is either an allow list or a deny list.
type IPRules struct {
	// Allow is true for an allow list, false for a deny list.
	Allow  bool
	Ranges []netip.Prefix
}

// Permits reports whether a client at addr may reach the app. An address
// that cannot be parsed matches no range.
func (r *IPRules) Permits(addr netip.Addr) bool {
	if r == nil {
		return true
	}
	addr = addr.Unmap()
	for _, p := range r.Ranges {
		if p.Contains(addr) {
			return r.Allow
		}
	}
	return !r.Allow
}

// CORS is an app's corsPolicy.
type CORS struct {
	// AllowedOrigins are exact origins ("https://example.com"), "*", or
	// origins with a wildcard first host label ("https://*.example.com").
	AllowedOrigins   []string
	AllowedMethods   []string
	AllowedHeaders   []string
	ExposeHeaders    []string
	MaxAge           int // seconds; 0 leaves it to the browser
	AllowCredentials bool
}

// App is one app's routing entry.
type App struct {
	Name string
	// Ingress is nil when ingress is disabled.
	Ingress *Ingress
	// DaprAppID is set when Dapr is enabled.
	DaprAppID string
	// AppProtocol is how the app's sidecar reaches it (Dapr's appProtocol:
	// "http" or "grpc"); empty means http.
	AppProtocol string
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

// Endpoint finds a ready endpoint by replica name; false when that replica
// is not (or no longer) ready.
func (a *App) Endpoint(replica string) (Endpoint, bool) {
	for _, ep := range a.Endpoints {
		if ep.Replica == replica {
			return ep, true
		}
	}
	return Endpoint{}, false
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
