// Package placement is cove's actor placement service (`cove placement`):
// Dapr's placement protocol (dapr.proto.placement.v1), served to daprd
// and cove sidecars. Sidecars report the actor types their apps host; the
// service keeps, per namespace, the hosts of each type and hands the table
// to every sidecar of the namespace in rounds of lock, update and unlock,
// each acknowledged by every sidecar before the next step. A single node:
// there is no Raft and no leader election, so the table lives as long as
// the process, and sidecars report again when they reconnect.
//
// It imports no other cove package.
package placement

import (
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	v1pb "github.com/dapr/dapr/pkg/proto/placement/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The operations of an order, as daprd reads them.
const (
	opLock   = "lock"
	opUpdate = "update"
	opUnlock = "unlock"
)

// Options configure a Server.
type Options struct {
	// ReplicationFactor is the virtual nodes per host on a type's ring,
	// which sidecars use to build it; default 100, as daprd's placement.
	ReplicationFactor int64
	// DisseminateTimeout bounds a round: a sidecar that has not
	// acknowledged a step within it is disconnected; default 8s.
	DisseminateTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server serves Placement.ReportDaprStatus.
type Server struct {
	v1pb.UnimplementedPlacementServer
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	spaces   map[string]*space
	nextConn uint64
	closed   bool
}

// New returns a server with no hosts.
func New(opts Options) *Server {
	if opts.ReplicationFactor <= 0 {
		opts.ReplicationFactor = 100
	}
	if opts.DisseminateTimeout <= 0 {
		opts.DisseminateTimeout = 8 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{opts: opts, log: log, spaces: map[string]*space{}}
}

// conn is one sidecar's stream.
type conn struct {
	id   uint64
	out  chan *v1pb.PlacementOrder
	done chan struct{}
	err  error // why it was ended; set before done closes
	once sync.Once
	// Under Server.mu:
	name  string // the host's address, for logs
	acked v1pb.HostOperation
	// direct is the version a sidecar that hosts nothing was sent on its
	// own when it joined; its acknowledgements of it are not the round's.
	direct *uint64
	// pending is the last report of a stream waiting for a round to end.
	pending *v1pb.Host
}

// end closes the stream with err (nil: the server stops).
func (c *conn) end(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
	})
}

// send queues an order; a sidecar too slow to take its orders is
// disconnected rather than waited for.
func (c *conn) send(o *v1pb.PlacementOrder) {
	select {
	case c.out <- o:
	default:
		c.end(status.Error(codes.ResourceExhausted, "placement orders not read"))
	}
}

// space is one namespace's hosts and dissemination round. Hosts of one
// namespace never see another's.
type space struct {
	name  string
	conns map[uint64]*conn
	hosts map[uint64]*v1pb.Host // the hosts with actor types, by stream

	version uint64
	op      v1pb.HostOperation // REPORT when no round runs
	again   bool               // the hosts changed during the round
	waiting []*conn            // joined during a round; added after it
	timer   *time.Timer
}

// ReportDaprStatus serves one sidecar: its first message names it, later
// ones report its types again or acknowledge the steps of a round.
func (s *Server) ReportDaprStatus(stream v1pb.Placement_ReportDaprStatusServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "placement server is shutting down")
	}
	s.nextConn++
	c := &conn{id: s.nextConn, out: make(chan *v1pb.PlacementOrder, 64), done: make(chan struct{}), name: first.GetName()}
	ns := s.spaceLocked(first.GetNamespace())
	s.mu.Unlock()
	s.log.Info("sidecar connected", slog.String("namespace", first.GetNamespace()), slog.String("app", first.GetId()),
		slog.String("host", first.GetName()), slog.Any("types", first.GetEntities()))

	s.mu.Lock()
	s.joinLocked(ns, c, first)
	s.mu.Unlock()

	recvErr := make(chan error, 1)
	go func() {
		for {
			h, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			s.mu.Lock()
			s.reportLocked(ns, c, h)
			s.mu.Unlock()
		}
	}()

	defer func() {
		s.mu.Lock()
		s.leaveLocked(ns, c)
		s.mu.Unlock()
		s.log.Info("sidecar disconnected", slog.String("namespace", ns.name), slog.String("host", c.name))
	}()
	for {
		select {
		case o := <-c.out:
			if err := stream.Send(o); err != nil {
				return err
			}
		case err := <-recvErr:
			return err
		case <-c.done:
			return c.err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func (s *Server) spaceLocked(name string) *space {
	ns := s.spaces[name]
	if ns == nil {
		ns = &space{name: name, conns: map[uint64]*conn{}, hosts: map[uint64]*v1pb.Host{}, op: v1pb.HostOperation_REPORT}
		s.spaces[name] = ns
	}
	return ns
}

// joinLocked adds a new stream: at once when no round runs, else once
// the round is done, as daprd's placement does.
func (s *Server) joinLocked(ns *space, c *conn, h *v1pb.Host) {
	if ns.op != v1pb.HostOperation_REPORT {
		c.pending = h // applied when it joins
		ns.waiting = append(ns.waiting, c)
		return
	}
	ns.conns[c.id] = c
	if s.setHost(ns, c.id, h) {
		s.roundLocked(ns)
		return
	}
	s.sendTableLocked(ns, c)
}

// sendTableLocked gives a sidecar that hosts nothing the current table on
// its own: lock, update and unlock at the current version.
func (s *Server) sendTableLocked(ns *space, c *conn) {
	v := ns.version
	c.direct = &v
	c.send(&v1pb.PlacementOrder{Operation: opLock, Version: v})
	c.send(&v1pb.PlacementOrder{Operation: opUpdate, Version: v, Tables: s.tables(ns)})
	c.send(&v1pb.PlacementOrder{Operation: opUnlock, Version: v})
}

// setHost records a host's report and says whether the table changed:
// another set of types, app id or namespace.
func (s *Server) setHost(ns *space, id uint64, h *v1pb.Host) bool {
	types := slices.Clone(h.GetEntities())
	sort.Strings(types)
	old, had := ns.hosts[id]
	if len(types) == 0 {
		delete(ns.hosts, id)
		return had
	}
	if had && slices.Equal(old.GetEntities(), types) && old.GetId() == h.GetId() && old.GetName() == h.GetName() {
		return false
	}
	ns.hosts[id] = &v1pb.Host{Name: h.GetName(), Port: h.GetPort(), Id: h.GetId(), Namespace: h.GetNamespace(), Entities: types}
	return true
}

// reportLocked handles a message after the first.
func (s *Server) reportLocked(ns *space, c *conn, h *v1pb.Host) {
	if _, ok := ns.conns[c.id]; !ok {
		if slices.Contains(ns.waiting, c) && h.GetOperation() == v1pb.HostOperation_REPORT {
			c.pending = h
		}
		return
	}
	op := h.GetOperation()
	if op == v1pb.HostOperation_UNKNOWN {
		// Sidecars that do not say what they answer answer the step that
		// runs, or report.
		op = ns.op
	}
	if op != v1pb.HostOperation_REPORT && h.Version != nil {
		if c.direct != nil && *h.Version == *c.direct {
			if op == v1pb.HostOperation_UNLOCK {
				c.direct = nil
			}
			return
		}
		if *h.Version < ns.version {
			return
		}
	}
	switch op {
	case v1pb.HostOperation_REPORT:
		if s.setHost(ns, c.id, h) {
			if ns.op == v1pb.HostOperation_REPORT {
				s.roundLocked(ns)
			} else {
				ns.again = true
			}
		}
	case v1pb.HostOperation_LOCK, v1pb.HostOperation_UPDATE, v1pb.HostOperation_UNLOCK:
		if op == ns.op {
			c.acked = op
			s.advanceLocked(ns)
		}
	}
}

// leaveLocked removes a closed stream; its types leave the table.
func (s *Server) leaveLocked(ns *space, c *conn) {
	c.end(nil)
	if i := slices.Index(ns.waiting, c); i >= 0 {
		ns.waiting = slices.Delete(ns.waiting, i, i+1)
		return
	}
	if _, ok := ns.conns[c.id]; !ok {
		return
	}
	delete(ns.conns, c.id)
	_, hosted := ns.hosts[c.id]
	delete(ns.hosts, c.id)
	if ns.op != v1pb.HostOperation_REPORT {
		ns.again = ns.again || hosted
		s.advanceLocked(ns)
		return
	}
	if hosted {
		s.roundLocked(ns)
	}
}

// roundLocked starts a round at the next version: every stream is sent
// LOCK.
func (s *Server) roundLocked(ns *space) {
	if len(ns.conns) == 0 {
		return
	}
	ns.version++
	ns.op = v1pb.HostOperation_LOCK
	ns.again = false
	v := ns.version
	if ns.timer != nil {
		ns.timer.Stop()
	}
	ns.timer = time.AfterFunc(s.opts.DisseminateTimeout, func() { s.timeout(ns, v) })
	for _, c := range ns.conns {
		c.acked = v1pb.HostOperation_REPORT
		c.direct = nil
		c.send(&v1pb.PlacementOrder{Operation: opLock, Version: v})
	}
	s.log.Debug("placement round started", slog.String("namespace", ns.name), slog.Uint64("version", v))
}

// advanceLocked moves the round on once every stream acknowledged its
// step: LOCK → UPDATE (the table) → UNLOCK → done.
func (s *Server) advanceLocked(ns *space) {
	if ns.op == v1pb.HostOperation_REPORT {
		return
	}
	if len(ns.conns) == 0 {
		// The last sidecar left mid-round: nobody is left to tell.
		ns.op = v1pb.HostOperation_REPORT
		ns.timer.Stop()
		s.afterRoundLocked(ns)
		return
	}
	for _, c := range ns.conns {
		if c.acked != ns.op {
			return
		}
	}
	v := ns.version
	switch ns.op {
	case v1pb.HostOperation_LOCK:
		ns.op = v1pb.HostOperation_UPDATE
		t := s.tables(ns)
		for _, c := range ns.conns {
			c.send(&v1pb.PlacementOrder{Operation: opUpdate, Version: v, Tables: t})
		}
	case v1pb.HostOperation_UPDATE:
		ns.op = v1pb.HostOperation_UNLOCK
		for _, c := range ns.conns {
			c.send(&v1pb.PlacementOrder{Operation: opUnlock, Version: v})
		}
	case v1pb.HostOperation_UNLOCK:
		ns.op = v1pb.HostOperation_REPORT
		ns.timer.Stop()
		s.log.Debug("placement round done", slog.String("namespace", ns.name), slog.Uint64("version", v),
			slog.Int("hosts", len(ns.hosts)))
		s.afterRoundLocked(ns)
	}
}

// afterRoundLocked adds the streams that joined during the round and runs
// another round if the table changed meanwhile.
func (s *Server) afterRoundLocked(ns *space) {
	changed := ns.again
	waiting := ns.waiting
	ns.waiting = nil
	for _, c := range waiting {
		ns.conns[c.id] = c
		if c.pending != nil && s.setHost(ns, c.id, c.pending) {
			changed = true
		}
		c.pending = nil
	}
	if changed {
		s.roundLocked(ns)
		return
	}
	for _, c := range waiting {
		s.sendTableLocked(ns, c)
	}
}

// timeout ends a round that did not complete: the streams that did not
// acknowledge its step are disconnected and a new round starts.
func (s *Server) timeout(ns *space, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns.version != version || ns.op == v1pb.HostOperation_REPORT {
		return
	}
	s.log.Warn("placement round timed out", slog.String("namespace", ns.name), slog.Uint64("version", version))
	err := status.Errorf(codes.DeadlineExceeded, "dissemination timeout after %s for version %d", s.opts.DisseminateTimeout, version)
	for id, c := range ns.conns {
		if c.acked != ns.op {
			s.log.Warn("sidecar did not answer the placement round", slog.String("host", c.name))
			delete(ns.conns, id)
			delete(ns.hosts, id)
			c.end(err)
		}
	}
	ns.op = v1pb.HostOperation_REPORT
	ns.again = true
	s.afterRoundLocked(ns)
}

// tables is the namespace's table as sidecars take it: per type, its
// hosts by name.
func (s *Server) tables(ns *space) *v1pb.PlacementTables {
	t := &v1pb.PlacementTables{
		Version:           strconv.FormatUint(ns.version, 10),
		ReplicationFactor: s.opts.ReplicationFactor,
		Entries:           map[string]*v1pb.PlacementTable{},
	}
	for _, h := range ns.hosts {
		for _, typ := range h.GetEntities() {
			e := t.Entries[typ]
			if e == nil {
				e = &v1pb.PlacementTable{LoadMap: map[string]*v1pb.Host{}}
				t.Entries[typ] = e
			}
			e.LoadMap[h.GetName()] = proto.Clone(h).(*v1pb.Host)
		}
	}
	return t
}

// HostState is one host of a namespace's table, as /placement/state
// shows it.
type HostState struct {
	Name      string   `json:"name"`
	AppID     string   `json:"appId"`
	Namespace string   `json:"namespace,omitempty"`
	Entities  []string `json:"entities"`
}

// State is the service's tables: the hosts of each namespace and their
// table's version.
type State struct {
	Namespaces map[string]NamespaceState `json:"namespaces"`
}

// NamespaceState is one namespace's table.
type NamespaceState struct {
	Version uint64      `json:"tableVersion"`
	Hosts   []HostState `json:"hosts"`
	// Conns counts the sidecars connected, hosting actors or not.
	Conns int `json:"connections"`
}

// State returns a snapshot of the tables.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := State{Namespaces: map[string]NamespaceState{}}
	for name, ns := range s.spaces {
		st := NamespaceState{Version: ns.version, Hosts: []HostState{}, Conns: len(ns.conns) + len(ns.waiting)}
		for _, h := range ns.hosts {
			st.Hosts = append(st.Hosts, HostState{Name: h.GetName(), AppID: h.GetId(), Namespace: h.GetNamespace(), Entities: h.GetEntities()})
		}
		sort.Slice(st.Hosts, func(i, j int) bool { return st.Hosts[i].Name < st.Hosts[j].Name })
		out.Namespaces[name] = st
	}
	return out
}

// Close ends every stream; sidecars reconnect to whatever serves next.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, ns := range s.spaces {
		if ns.timer != nil {
			ns.timer.Stop()
		}
		for _, c := range ns.conns {
			c.end(status.Error(codes.Unavailable, "placement server is shutting down"))
		}
		for _, c := range ns.waiting {
			c.end(status.Error(codes.Unavailable, "placement server is shutting down"))
		}
	}
}
