// Package routing holds the environment's live topology as the data plane
// sees it: which apps exist, how their ingress is configured, which of
// their revisions are active with what share of the traffic, and which
// replicas are ready to take it. The control plane builds a new Table
// whenever something changes and swaps it in atomically; the edge, the
// internal proxy and the sidecars' resolver read it on every request without
// locks.
//
// It imports nothing of cove's, so every data plane package may use it.
package routing

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
)

// Endpoint is one ready replica an app's traffic can go to.
type Endpoint struct {
	App      string
	Revision string
	Replica  string
	// Addr is host:port of the replica's main port (its PORT).
	Addr string
	// Ports maps the container target ports of the app's
	// additionalPortMappings to host:port of the replica's own port for
	// each; a process has one PORT, so every extra target gets one more.
	Ports map[int]string

	// load counts what is in flight to the replica; shared by every table
	// that lists the replica.
	load *load
}

// load is what is in flight to one replica.
type load struct {
	// edge counts the requests the edge has sent and not yet seen finish,
	// which least-outstanding-requests balancing reads.
	edge atomic.Int64
	// invocations counts Dapr service invocations under way. Balancing at
	// the edge leaves them out (on ACA they do not pass its ingress
	// either); a retiring revision waits for them as for edge requests.
	invocations atomic.Int64
}

// AddrFor returns where the replica serves a container target port: Addr
// for the main target port (main), else the port allocated for that
// additional mapping.
func (ep Endpoint) AddrFor(target, main int) (string, bool) {
	if target == main {
		return ep.Addr, true
	}
	a, ok := ep.Ports[target]
	return a, ok
}

// Begin counts a request the edge sends to the replica as outstanding
// until the returned function is called, which least-outstanding-requests
// balancing reads.
func (ep Endpoint) Begin() (done func()) {
	if ep.load == nil {
		return func() {}
	}
	return countUntilDone(&ep.load.edge)
}

// BeginInvocation counts a Dapr service invocation of the replica as in
// flight until the returned function is called. It does not weigh in the
// edge's balancing; InFlight includes it.
func (ep Endpoint) BeginInvocation() (done func()) {
	if ep.load == nil {
		return func() {}
	}
	return countUntilDone(&ep.load.invocations)
}

// countUntilDone adds one to c and returns the function that takes it
// back, once however often it is called.
func countUntilDone(c *atomic.Int64) func() {
	c.Add(1)
	var once sync.Once
	return func() { once.Do(func() { c.Add(-1) }) }
}

// Outstanding is the number of requests the edge has begun (Begin) and not
// yet done.
func (ep Endpoint) Outstanding() int64 {
	if ep.load == nil {
		return 0
	}
	return ep.load.edge.Load()
}

// InFlight is everything begun on the replica and not yet done: the edge's
// requests and Dapr invocations. A replica leaving service waits for it to
// reach zero.
func (ep Endpoint) InFlight() int64 {
	if ep.load == nil {
		return 0
	}
	return ep.load.edge.Load() + ep.load.invocations.Load()
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
	// TransportTCP proxies raw TCP connections on ExposedPort; the app is
	// not reachable over HTTP.
	TransportTCP = "tcp"
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
	// TargetHTTPS says the app serves HTTPS on its target port
	// (targetPortHttpScheme: https), so requests reach it over TLS.
	TargetHTTPS bool
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
	// ExposedPort is the port a TCP app is reached on (external: on the
	// edge's address; internal: <app>:<port> on the app's own address, or
	// through the internal proxy).
	// It is the targetPort when the app's YAML gives none; 0 for HTTP apps.
	ExposedPort int
	// AdditionalPorts are the app's extra TCP ports (additionalPortMappings).
	AdditionalPorts []PortMapping
	// CustomDomains are host names the public edge routes to the app
	// besides <app>.<domain>, lower case.
	CustomDomains []string
}

// PortMapping is one additional TCP port of an app.
type PortMapping struct {
	// External exposes the port on the edge's address; otherwise it is
	// reachable from inside the environment only.
	External   bool
	TargetPort int
	// ExposedPort is the port callers use; the TargetPort when the app's
	// YAML gives none.
	ExposedPort int
}

// IsTCP reports whether the app's main ingress is raw TCP.
func (in *Ingress) IsTCP() bool { return in != nil && in.Transport == TransportTCP }

// TCPTarget finds the container target port behind an exposed TCP port.
// From outside (inside false) only external ports count; from inside every
// port does. The main port of an HTTP app is not a TCP port.
func (in *Ingress) TCPTarget(exposed int, inside bool) (int, bool) {
	if in == nil || exposed <= 0 {
		return 0, false
	}
	if in.IsTCP() && in.ExposedPort == exposed && (inside || in.External) {
		return in.TargetPort, true
	}
	for _, m := range in.AdditionalPorts {
		if m.ExposedPort == exposed && (inside || m.External) {
			return m.TargetPort, true
		}
	}
	return 0, false
}

// ExternalTCPPorts lists the ports the edge listens on for the app on its
// public address.
func (in *Ingress) ExternalTCPPorts() []int { return in.tcpPorts(false) }

// TCPPorts lists every exposed TCP port of the app, external or not: those
// it is reached on from inside.
func (in *Ingress) TCPPorts() []int { return in.tcpPorts(true) }

func (in *Ingress) tcpPorts(inside bool) []int {
	if in == nil {
		return nil
	}
	var out []int
	if in.IsTCP() && (inside || in.External) && in.ExposedPort > 0 {
		out = append(out, in.ExposedPort)
	}
	for _, m := range in.AdditionalPorts {
		if (inside || m.External) && m.ExposedPort > 0 {
			out = append(out, m.ExposedPort)
		}
	}
	return out
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

// Revision is one active revision of an app: its share of the app's
// traffic and its ready replicas.
type Revision struct {
	// Name is the revision's name, "<app>--<suffix>"; as a host label it
	// reaches this revision only. Empty for an app given as plain
	// Endpoints.
	Name string
	// Weight is the revision's share of the app's traffic in percent
	// (ingress.traffic); values outside 0-100 are clamped.
	Weight int
	// Aliases are further host labels that reach this revision only: the
	// traffic labels pointing at it ("<app>---<label>").
	Aliases []string
	// Endpoints are the revision's ready replicas, in a stable order.
	Endpoints []Endpoint

	next atomic.Uint64
}

// pick returns the revision's next ready endpoint by round robin.
func (r *Revision) pick() (Endpoint, bool) { return roundRobin(r.Endpoints, &r.next) }

// roundRobin returns the endpoint after the one next last gave out.
func roundRobin(eps []Endpoint, next *atomic.Uint64) (Endpoint, bool) {
	if len(eps) == 0 {
		return Endpoint{}, false
	}
	i := next.Add(1) - 1
	return eps[i%uint64(len(eps))], true
}

// pickLeastLoaded returns the ready endpoint with the fewest outstanding
// requests, round robin among equals.
func (r *Revision) pickLeastLoaded() (Endpoint, bool) {
	n := len(r.Endpoints)
	if n == 0 {
		return Endpoint{}, false
	}
	start := int((r.next.Add(1) - 1) % uint64(n))
	best, bestLoad := -1, int64(0)
	for k := range n {
		i := (start + k) % n
		if l := r.Endpoints[i].Outstanding(); best < 0 || l < bestLoad {
			best, bestLoad = i, l
		}
	}
	return r.Endpoints[best], true
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
	// Revisions are the app's active revisions. An App built with
	// Endpoints and no Revisions is one revision taking all traffic.
	Revisions []*Revision
	// Endpoints are the ready replicas of every active revision, in a
	// stable order; NewTable fills it from Revisions.
	Endpoints []Endpoint

	// split is the order in which revisions (indexes into Revisions) take
	// requests: one period of a smooth weighted round robin over the
	// revisions that have a ready replica. turn walks it; next walks
	// Endpoints for PickAny.
	split []int
	turn  atomic.Uint64
	next  atomic.Uint64
}

// revision returns the revision the next request goes to, by weight; nil
// when no revision has a ready replica.
func (a *App) revision() *Revision {
	switch len(a.split) {
	case 0:
		return nil
	case 1:
		return a.Revisions[a.split[0]]
	}
	i := a.turn.Add(1) - 1
	return a.Revisions[a.split[i%uint64(len(a.split))]]
}

// Pick returns a ready endpoint of the revision whose turn it is by
// weight, round robin within the revision; false when the app has none
// ready.
func (a *App) Pick() (Endpoint, bool) {
	if r := a.revision(); r != nil {
		return r.pick()
	}
	return Endpoint{}, false
}

// PickLeastLoaded picks the revision by weight, as Pick does, then its
// ready endpoint with the fewest outstanding requests (see Endpoint.Begin).
// Ties go round robin, so idle replicas share light traffic evenly; a slow
// replica, whose requests pile up, gets fewer new ones.
func (a *App) PickLeastLoaded() (Endpoint, bool) {
	if r := a.revision(); r != nil {
		return r.pickLeastLoaded()
	}
	return Endpoint{}, false
}

// PickAny returns the next ready endpoint of any active revision by round
// robin, regardless of traffic weights: Dapr service invocation by app id
// reaches every revision's replicas.
func (a *App) PickAny() (Endpoint, bool) { return roundRobin(a.Endpoints, &a.next) }

// Revision finds an active revision by name.
func (a *App) Revision(name string) (*Revision, bool) {
	for _, r := range a.Revisions {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// Endpoint finds a ready endpoint of any active revision by replica name;
// false when that replica is not (or no longer) ready.
func (a *App) Endpoint(replica string) (Endpoint, bool) {
	for _, ep := range a.Endpoints {
		if ep.Replica == replica {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// index sorts the revisions' endpoints, gathers them into Endpoints and
// works out the weighted order. A revision without a ready replica takes
// no turn, so its weight goes to the others in proportion; when none of
// the ready revisions has weight, they share evenly rather than leave the
// app unreachable.
func (a *App) index() {
	if len(a.Revisions) == 0 {
		a.Revisions = []*Revision{{Weight: 100, Endpoints: a.Endpoints}}
	}
	a.Endpoints = nil
	var ready, weights []int
	total := 0
	for i, r := range a.Revisions {
		sortEndpoints(r.Endpoints)
		a.Endpoints = append(a.Endpoints, r.Endpoints...)
		if len(r.Endpoints) == 0 {
			continue
		}
		w := min(max(r.Weight, 0), 100)
		ready, weights = append(ready, i), append(weights, w)
		total += w
	}
	sortEndpoints(a.Endpoints)
	if total == 0 {
		for k := range weights {
			weights[k] = 1
		}
	}
	a.split = nil
	for _, k := range smoothWeighted(weights) {
		a.split = append(a.split, ready[k])
	}
}

// smoothWeighted returns one period of a smooth weighted round robin over
// weights (the scheme nginx uses for upstream weights): every step each
// candidate gains its weight, the one with the most goes next and gives
// back the total. The turns spread out (80/20 gives A A B A A, not
// A A A A B), every weight gets exactly its share per period, and the
// period is the sum of the weights reduced by their greatest common
// divisor. Zero weights never take a turn.
func smoothWeighted(weights []int) []int {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	if g == 0 {
		return nil
	}
	total := 0
	w := make([]int, len(weights))
	for i, x := range weights {
		w[i] = x / g
		total += w[i]
	}
	cur := make([]int, len(w))
	out := make([]int, 0, total)
	for range total {
		best := -1
		for i := range w {
			if w[i] == 0 {
				continue
			}
			cur[i] += w[i]
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func sortEndpoints(eps []Endpoint) {
	sort.Slice(eps, func(i, j int) bool { return eps[i].Replica < eps[j].Replica })
	for i := range eps {
		if eps[i].load == nil {
			eps[i].load = new(load)
		}
	}
}

// revisionView is the entry a revision's own host names resolve to: the
// app with that one revision, so every request reaches it.
func revisionView(a *App, r *Revision) *App {
	v := &App{Name: a.Name, Ingress: a.Ingress, DaprAppID: a.DaprAppID, AppProtocol: a.AppProtocol,
		Revisions: []*Revision{r}, Endpoints: r.Endpoints}
	if len(r.Endpoints) > 0 {
		v.split = []int{0}
	}
	return v
}

// Table is an immutable snapshot of the topology. Build it with NewTable.
type Table struct {
	apps     map[string]*App
	aliases  map[string]*App // revision and label host names: one revision each
	byAppID  map[string]*App
	byDomain map[string]*App
	// local are the loopback ports the environment's replicas and their
	// sidecars serve HTTP on, ready or not.
	local map[int]bool
}

// NewTable indexes apps by name, by Dapr app id, by custom domain and by
// their revisions' host names. Endpoint order is made stable so round
// robin does not depend on map iteration. A custom domain or a revision
// host name claimed twice goes to the first app by name; an app's own
// name is never hidden by another's revision host name.
func NewTable(apps []*App) *Table {
	t := &Table{apps: map[string]*App{}, aliases: map[string]*App{}, byAppID: map[string]*App{}, byDomain: map[string]*App{}}
	for _, a := range apps {
		a.index()
		t.apps[a.Name] = a
		if a.DaprAppID != "" {
			t.byAppID[a.DaprAppID] = a
		}
	}
	for _, a := range t.Apps() {
		for _, r := range a.Revisions {
			var view *App
			for _, alias := range append([]string{r.Name}, r.Aliases...) {
				if alias == "" || t.aliases[alias] != nil {
					continue
				}
				if view == nil {
					view = revisionView(a, r)
				}
				t.aliases[alias] = view
			}
		}
		if a.Ingress == nil {
			continue
		}
		for _, d := range a.Ingress.CustomDomains {
			if _, taken := t.byDomain[d]; !taken {
				t.byDomain[d] = a
			}
		}
	}
	return t
}

// WithLocalPorts records the loopback ports the environment's replicas and
// sidecars serve HTTP on (see LocalPort) and returns t; it is for the
// table's builder, before the table is stored.
func (t *Table) WithLocalPorts(ports []int) *Table {
	t.local = make(map[int]bool, len(ports))
	for _, p := range ports {
		t.local[p] = true
	}
	return t
}

// LocalPort reports whether a replica or sidecar of the environment serves
// HTTP on port of the loopback address.
func (t *Table) LocalPort(port int) bool { return t.local[port] }

// CustomDomain finds the app a custom domain (lower case, no port) is
// bound to.
func (t *Table) CustomDomain(host string) (*App, bool) {
	a, ok := t.byDomain[host]
	return a, ok
}

// App finds an app by name, or by the host name of one of its revisions
// ("<app>--<suffix>", "<app>---<label>"), which gives an entry whose every
// pick is that revision.
func (t *Table) App(name string) (*App, bool) {
	if a, ok := t.apps[name]; ok {
		return a, ok
	}
	a, ok := t.aliases[name]
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

// Store swaps in a new table. Replicas the current table lists keep their
// in-flight counts, so balancing is not reset by every change and requests
// and invocations in flight are counted where they will finish.
func (s *Source) Store(t *Table) {
	if old := s.cur.Load(); old != nil && t != nil {
		counts := map[string]*load{}
		for _, a := range old.apps {
			for _, ep := range a.Endpoints {
				counts[ep.Replica] = ep.load
			}
		}
		keep := func(eps []Endpoint) {
			for i := range eps {
				if c := counts[eps[i].Replica]; c != nil {
					eps[i].load = c
				}
			}
		}
		// Revision entries share their revision's slice, so this reaches
		// every copy of an endpoint.
		for _, a := range t.apps {
			keep(a.Endpoints)
			for _, r := range a.Revisions {
				keep(r.Endpoints)
			}
		}
	}
	s.cur.Store(t)
}
