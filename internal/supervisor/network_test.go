package supervisor

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// fakeNetwork stands for a replica's network namespace: entering it fails
// with enterErr, and its dials go to the address in to (the app's inside).
type fakeNetwork struct {
	enterErr error
	to       string
	dials    atomic.Int32
}

func (n *fakeNetwork) Enter() error { return n.enterErr }

func (n *fakeNetwork) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	n.dials.Add(1)
	var d net.Dialer
	return d.DialContext(ctx, network, n.to)
}

func TestNetworkRefusedFailsTheStart(t *testing.T) {
	s, _ := newSupervisor(t)
	spec := shell("ns", "exec sleep 60")
	spec.Network = &fakeNetwork{enterErr: errors.New("the kernel refused a network namespace")}
	err := s.Start(t.Context(), spec)
	if err == nil || !strings.Contains(err.Error(), "refused a network namespace") {
		t.Fatalf("Start = %v, want the namespace's refusal", err)
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("a replica that could not enter its namespace is listed: %v", l)
	}
}

// TestProbesDialInsideTheNetwork: a replica's probes connect through its
// network, where the app listens, not to the port on the machine.
func TestProbesDialInsideTheNetwork(t *testing.T) {
	s, _ := newSupervisor(t)
	inside := testaddr.Serve(t, func(net.Conn) {})
	nw := &fakeNetwork{to: inside}
	spec := shell("ns", "exec sleep 60")
	spec.Network = nw
	// Nothing listens on the machine's port: only a dial through the
	// network can succeed.
	spec.Probes = []Probe{{Type: Readiness, TCPSocket: &TCPSocketAction{Port: testaddr.FreePort(t)}, Period: 20 * time.Millisecond}}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readiness through the network", func() bool { return status(t, s, "ns").Ready })
	if nw.dials.Load() == 0 {
		t.Error("the probe did not dial through the replica's network")
	}
}
