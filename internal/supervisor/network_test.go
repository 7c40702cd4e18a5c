package supervisor

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/netns"
	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testuser"
)

// netnsHolderArg makes the test binary the holder of network namespaces
// made without root (see TestMain).
const netnsHolderArg = "supervisor-test-netns-holder"

// fakeNetwork stands for a replica's network namespace: entering it fails
// with enterErr, and its dials go to the address in to (the app's inside).
type fakeNetwork struct {
	enterErr error
	to       string
	dials    atomic.Int32
}

func (n *fakeNetwork) Enter() error { return n.enterErr }

func (n *fakeNetwork) Command([]string) []string { return nil }

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

// TestReplicaInItsNetworkNamespace: a replica in a network namespace of
// its own, with a hosts file, listens on port 80 there (as root of its
// user namespace when the supervisor is not root), and its probe finds it
// inside; a second container in it still dies with the supervisor.
func TestReplicaInItsNetworkNamespace(t *testing.T) {
	ns, err := netns.New([]string{os.Args[0], netnsHolderArg})
	if errors.Is(err, netns.ErrRefused) && !testuser.Is() {
		t.Skipf("no network namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	rec := &recorder{}
	opts := rec.options()
	opts.Launcher = []string{os.Args[0], launcherArg}
	s := New(opts)
	t.Cleanup(func() { _ = s.StopAll(context.Background()) })
	spec := shell("inside", `cat /etc/hosts; echo "uid=$(id -u)"; exec "$TEST_BINARY"`)
	spec.Env = append(spec.Env, "TEST_BINARY="+os.Args[0], helperEnv+"=listen", "PORT=80", "TRIGGER=/")
	spec.Hosts = writeHostsFile(t, t.TempDir())
	spec.Network = ns
	spec.Container = "main"
	spec.Sidecars = []Container{{Name: "second", Command: []string{os.Args[0]},
		Env: []string{"PATH=" + os.Getenv("PATH"), helperEnv + "=pdeathsig"}}}
	spec.Probes = []Probe{{Type: Readiness, TCPSocket: &TCPSocketAction{Port: 80}, Period: 50 * time.Millisecond}}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica listening on 80 inside", func() bool { return rec.hasLine("inside: main: listening") })
	waitFor(t, "readiness inside the namespace", func() bool { return status(t, s, "inside").Ready })
	waitFor(t, "the parent-death signal", func() bool { return rec.hasLine("inside: second: pdeathsig=9") })
	for _, want := range []string{"inside: main: 127.1.2.3\tcove-test-app cove-test-app.internal.localhost", "inside: main: uid=0"} {
		if !rec.hasLine(want) {
			t.Errorf("the replica did not print %q: %v", want, rec.output())
		}
	}
}

// TestReplicaInItsNetworkNamespaceWithoutRoot runs the test above as
// another user than root: the namespace is in a user namespace.
func TestReplicaInItsNetworkNamespaceWithoutRoot(t *testing.T) {
	testuser.Rerun(t, "^TestReplicaInItsNetworkNamespace$")
}
