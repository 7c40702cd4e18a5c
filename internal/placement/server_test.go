package placement

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	v1pb "github.com/dapr/dapr/pkg/proto/placement/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// sidecar is a test client that answers orders as daprd 1.18 does: every
// step acknowledged with its operation and version.
type sidecar struct {
	t      *testing.T
	stream v1pb.Placement_ReportDaprStatusClient
	tables chan *v1pb.PlacementTables // each unlocked table
	cancel context.CancelFunc
}

func startServer(t *testing.T, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, Config{Options: opts, Listener: ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// connect reports a host and answers orders; ack false leaves them
// unanswered.
func connect(t *testing.T, addr string, h *v1pb.Host, ack bool) *sidecar {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := v1pb.NewPlacementClient(cc).ReportDaprStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &sidecar{t: t, stream: stream, tables: make(chan *v1pb.PlacementTables, 64), cancel: cancel}
	t.Cleanup(func() { cancel(); _ = cc.Close() })
	if err := stream.Send(h); err != nil {
		t.Fatal(err)
	}
	go func() {
		var pending *v1pb.PlacementTables
		for {
			o, err := stream.Recv()
			if err != nil {
				close(s.tables)
				return
			}
			v := o.GetVersion()
			var op v1pb.HostOperation
			switch o.GetOperation() {
			case opLock:
				op = v1pb.HostOperation_LOCK
			case opUpdate:
				op, pending = v1pb.HostOperation_UPDATE, o.GetTables()
			case opUnlock:
				op = v1pb.HostOperation_UNLOCK
				s.tables <- pending
			}
			if ack {
				_ = stream.Send(&v1pb.Host{Operation: op, Version: &v, Namespace: h.GetNamespace(), Id: h.GetId()})
			}
		}
	}()
	return s
}

// waitTable waits for an unlocked table that satisfies ok.
func (s *sidecar) waitTable(ok func(*v1pb.PlacementTables) bool) *v1pb.PlacementTables {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case t, open := <-s.tables:
			if !open {
				s.t.Fatal("stream closed before the expected table")
			}
			if ok(t) {
				return t
			}
		case <-deadline:
			s.t.Fatal("no such table within 30s")
		}
	}
}

func hostsOf(t *v1pb.PlacementTables, typ string) []string {
	var out []string
	for name := range t.GetEntries()[typ].GetLoadMap() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func hasHosts(typ string, want ...string) func(*v1pb.PlacementTables) bool {
	return func(t *v1pb.PlacementTables) bool { return slices.Equal(hostsOf(t, typ), want) }
}

func TestTablesReachEverySidecarOfTheNamespace(t *testing.T) {
	addr := startServer(t, Options{})
	a := connect(t, addr, &v1pb.Host{Name: "10.0.0.1:50002", Id: "cart", Namespace: "ns1", Entities: []string{"Cart"}}, true)
	a.waitTable(hasHosts("Cart", "10.0.0.1:50002"))
	b := connect(t, addr, &v1pb.Host{Name: "10.0.0.2:50002", Id: "cart", Namespace: "ns1", Entities: []string{"Cart", "Order"}}, true)
	got := b.waitTable(hasHosts("Cart", "10.0.0.1:50002", "10.0.0.2:50002"))
	if h := hostsOf(got, "Order"); !slices.Equal(h, []string{"10.0.0.2:50002"}) {
		t.Errorf("Order hosts = %v", h)
	}
	if got.GetReplicationFactor() != 100 {
		t.Errorf("replicationFactor = %d, want 100", got.GetReplicationFactor())
	}
	a.waitTable(hasHosts("Cart", "10.0.0.1:50002", "10.0.0.2:50002"))
	if h := got.GetEntries()["Cart"].GetLoadMap()["10.0.0.2:50002"]; h.GetId() != "cart" {
		t.Errorf("host's app id = %q", h.GetId())
	}

	// A caller hosting nothing gets the table at once; another namespace's
	// hosts are not in it.
	other := connect(t, addr, &v1pb.Host{Name: "10.0.0.9:50002", Id: "shop", Namespace: "ns2", Entities: []string{"Cart"}}, true)
	other.waitTable(hasHosts("Cart", "10.0.0.9:50002"))
	caller := connect(t, addr, &v1pb.Host{Name: "10.0.0.3:50002", Id: "web", Namespace: "ns1"}, true)
	caller.waitTable(hasHosts("Cart", "10.0.0.1:50002", "10.0.0.2:50002"))

	// A host that leaves leaves the table.
	b.cancel()
	a.waitTable(hasHosts("Cart", "10.0.0.1:50002"))
	caller.waitTable(hasHosts("Cart", "10.0.0.1:50002"))

	// A host reporting other types later changes the table.
	if err := a.stream.Send(&v1pb.Host{Name: "10.0.0.1:50002", Id: "cart", Namespace: "ns1", Entities: []string{"Cart", "Wish"},
		Operation: v1pb.HostOperation_REPORT}); err != nil {
		t.Fatal(err)
	}
	caller.waitTable(hasHosts("Wish", "10.0.0.1:50002"))
}

func TestASidecarThatDoesNotAnswerIsDropped(t *testing.T) {
	// Long enough that the answering sidecar is never late on a loaded machine.
	addr := startServer(t, Options{DisseminateTimeout: 3 * time.Second})
	a := connect(t, addr, &v1pb.Host{Name: "a:1", Id: "x", Entities: []string{"T"}}, true)
	a.waitTable(hasHosts("T", "a:1"))
	mute := connect(t, addr, &v1pb.Host{Name: "b:1", Id: "x", Entities: []string{"T"}}, false)
	// The round that would add b cannot complete: b's stream is closed
	// and a gets the table without it again.
	for range mute.tables {
	}
	a.waitTable(hasHosts("T", "a:1"))
}
