package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	v1pb "github.com/dapr/dapr/pkg/proto/placement/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Forwarder calls an actor on another sidecar: addr is the sidecar's name
// in the placement table (the address its peers reach it on).
type Forwarder interface {
	CallActor(ctx context.Context, addr string, req *Request) (*Response, error)
}

// RemoteOptions connect a sidecar's placement to a placement service
// (`cove placement`, or Dapr's).
type RemoteOptions struct {
	// Address is the placement service's host:port.
	Address string
	// AppID and Namespace are reported with this sidecar's host.
	AppID, Namespace string
	Logger           *slog.Logger
}

// remote is a Placement's link to a placement service: it reports the
// types this sidecar's app hosts and builds the table from the tables the
// service disseminates, so an actor lives where daprd would place it.
type remote struct {
	o   RemoteOptions
	log *slog.Logger

	name string    // this sidecar's address in the table; set by Start
	fwd  Forwarder // set by Start

	// gate is closed while lookups may run: after the first table, and
	// outside a round's lock and unlock.
	gate atomic.Pointer[chan struct{}]
	// connected is true while a stream to the service is open.
	connected atomic.Bool

	mu     sync.Mutex // guards what follows
	self   *Host      // this sidecar's app while it hosts actors
	last   *v1pb.PlacementTables
	others map[string]*Host // hosts of other sidecars by name, reused across tables
	report chan struct{}    // nudges the stream to report this host again

	cancel context.CancelFunc
	done   chan struct{}
}

// NewRemotePlacement returns a placement whose table comes from a
// placement service; lookups wait for its first table. Start connects.
func NewRemotePlacement(o RemoteOptions) *Placement {
	p := NewPlacement()
	r := &remote{o: o, log: o.Logger, others: map[string]*Host{}, report: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = slog.Default()
	}
	g := make(chan struct{})
	r.gate.Store(&g)
	p.remote = r
	return p
}

// Start connects to the placement service, reporting this sidecar as name
// (host:port its peers reach it on); calls of actors other sidecars host
// go through fwd. It reconnects until Close.
func (p *Placement) Start(name string, fwd Forwarder) {
	r := p.remote
	if r == nil {
		return
	}
	r.mu.Lock()
	r.name, r.fwd = name, fwd
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	r.mu.Unlock()
	go func() {
		defer close(r.done)
		r.run(ctx, p)
	}()
}

// Close disconnects from the placement service.
func (p *Placement) Close() {
	r := p.remote
	if r == nil {
		return
	}
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Connected reports whether the placement is in service: always in
// process; with a placement service, while connected to it.
func (p *Placement) Connected() bool { return p.remote == nil || p.remote.connected.Load() }

// waitTable waits until lookups may run: at once in process; with a
// placement service, once its table is in and no round holds it.
func (p *Placement) waitTable(ctx context.Context) error {
	if p.remote == nil {
		return nil
	}
	select {
	case <-*p.remote.gate.Load():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the actor placement table: %w", ctx.Err())
	}
}

// setSelf records this sidecar's host (nil: it hosts nothing now), reports
// it and rebuilds the table around it.
func (r *remote) setSelf(p *Placement, h *Host) {
	r.mu.Lock()
	r.self = h
	r.mu.Unlock()
	select {
	case r.report <- struct{}{}:
	default:
	}
	p.applyRemote(false)
}

// host is this sidecar's report: its types, sorted.
func (r *remote) host() *v1pb.Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &v1pb.Host{Name: r.name, Id: r.o.AppID, Namespace: r.o.Namespace, ApiLevel: 20, Operation: v1pb.HostOperation_REPORT}
	if r.self != nil {
		for t := range r.self.cfg.Types {
			h.Entities = append(h.Entities, t)
		}
		slices.Sort(h.Entities)
	}
	return h
}

func (r *remote) run(ctx context.Context, p *Placement) {
	cc, err := grpc.NewClient(r.o.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.log.Error("actor placement not connected", slog.String("placement", r.o.Address), slog.Any("error", err))
		return
	}
	defer cc.Close()
	client := v1pb.NewPlacementClient(cc)
	for ctx.Err() == nil {
		err := r.session(ctx, p, client)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("actor placement disconnected; reconnecting", slog.String("placement", r.o.Address), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(250*time.Millisecond + rand.N(500*time.Millisecond)):
		}
	}
}

// session is one stream: the host reported, then each order answered as
// daprd 1.18 answers it (its operation and version), the table applied on
// update.
func (r *remote) session(ctx context.Context, p *Placement, client v1pb.PlacementClient) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.ReportDaprStatus(sctx)
	if err != nil {
		return err
	}
	// The first report goes before any other, so a later one always
	// carries the newer types.
	if err := stream.Send(r.host()); err != nil {
		return err
	}
	out := make(chan *v1pb.Host, 8)
	sendErr := make(chan error, 1)
	go func() {
		for {
			select {
			case h := <-out:
				if err := stream.Send(h); err != nil {
					sendErr <- err
					return
				}
			case <-r.report:
				if err := stream.Send(r.host()); err != nil {
					sendErr <- err
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	r.connected.Store(true)
	defer r.connected.Store(false)
	r.log.Info("actor placement connected", slog.String("placement", r.o.Address))
	ack := func(op v1pb.HostOperation, v uint64) {
		select {
		case out <- &v1pb.Host{Operation: op, Version: &v, Namespace: r.o.Namespace, Id: r.o.AppID}:
		case <-sctx.Done():
		}
	}
	for {
		o, err := stream.Recv()
		if err != nil {
			select {
			case err = <-sendErr:
			default:
			}
			return err
		}
		v := o.GetVersion()
		switch o.GetOperation() {
		case "lock":
			r.lock()
			ack(v1pb.HostOperation_LOCK, v)
		case "update":
			r.mu.Lock()
			r.last = o.GetTables()
			r.mu.Unlock()
			p.applyRemote(true)
			ack(v1pb.HostOperation_UPDATE, v)
		case "unlock":
			r.unlock()
			ack(v1pb.HostOperation_UNLOCK, v)
		default:
			return fmt.Errorf("unknown placement operation %q", o.GetOperation())
		}
	}
}

// lock holds lookups until unlock.
func (r *remote) lock() {
	g := *r.gate.Load()
	select {
	case <-g: // open: close it
		n := make(chan struct{})
		r.gate.Store(&n)
	default:
	}
}

func (r *remote) unlock() {
	g := *r.gate.Load()
	select {
	case <-g:
	default:
		close(g)
	}
}

// applyRemote builds the table from the last disseminated one: this
// sidecar's own name is its host while its app hosts actors, and dropped
// otherwise (a call must not come back to a sidecar that hosts nothing).
// With wait, the actors the table moves away are deactivated first.
func (p *Placement) applyRemote(wait bool) {
	r := p.remote
	r.mu.Lock()
	t := map[string]*ring{}
	rf := int(r.last.GetReplicationFactor())
	if rf <= 0 {
		rf = virtualNodes
	}
	for typ, e := range r.last.GetEntries() {
		hosts := make(map[string]*Host, len(e.GetLoadMap()))
		for name, h := range e.GetLoadMap() {
			if name == r.name {
				if r.self != nil {
					hosts[name] = r.self
				}
				continue
			}
			o := r.others[name]
			if o == nil {
				o = &Host{name: name, p: p, remote: true, appID: h.GetId()}
				r.others[name] = o
			}
			hosts[name] = o
		}
		if len(hosts) > 0 {
			t[typ] = newRing(hosts, rf)
		}
	}
	r.mu.Unlock()
	p.swap(t, wait)
}

// elsewhere says an actor lives on another sidecar: the call goes there.
type elsewhere struct{ to *Host }

func (e *elsewhere) Error() string { return "actor is hosted by " + e.to.name }

// forward calls the actor on the sidecar that hosts it.
func (p *Placement) forward(ctx context.Context, to *Host, req *Request) (*Response, error) {
	r := p.remote
	r.mu.Lock()
	fwd := r.fwd
	r.mu.Unlock()
	if fwd == nil {
		return nil, errors.New("no way to reach other sidecars")
	}
	return fwd.CallActor(ctx, to.name, req)
}
