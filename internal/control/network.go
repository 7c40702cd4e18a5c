package control

import (
	"fmt"
	"net"
	"strconv"

	"github.com/cove-env/cove/internal/netns"
	"github.com/cove-env/cove/internal/spec"
)

// replicaNetwork is a process replica's network namespace (cove.yaml's
// network: namespace) and the relays cove serves across it. It lasts for
// the replica's life, across restarts of its process.
type replicaNetwork struct {
	ns    *netns.Namespace
	stops []func()
}

func (n *replicaNetwork) close() {
	for _, stop := range n.stops {
		stop()
	}
	n.ns.Close()
}

// namespacePort is the port a namespaced replica's app listens on inside:
// the first it declares (targetPort, else Dapr's appPort); 0 without one.
func namespacePort(a *appRuntime) int {
	if len(a.containerPorts) > 0 {
		return a.containerPorts[0]
	}
	return 0
}

// openNetwork gives replica r a network namespace of its own, as a pod
// has: the app's ports inside are relayed from the replica's ports on the
// machine (r.port, r.extraPorts), and inside, localhost:3500 and 50001
// are its sidecar, the apps' addresses reach the edge, the internal
// proxy's address reaches the proxy, and the entry's hostPorts reach the
// machine's loopback. Call it once the sidecar's listeners are open.
func (e *Env) openNetwork(rev *revisionRuntime, r *replicaRuntime) error {
	a := rev.app
	ns, err := netns.New(e.opts.NetnsHolder)
	if err != nil {
		return fmt.Errorf("app %s: network: %s: %w; run cove as root or where the kernel allows user namespaces, or remove network: %s from the app in cove.yaml to run it on the machine's network with a PORT of its own",
			a.name, spec.NetworkNamespace, err, spec.NetworkNamespace)
	}
	n := &replicaNetwork{ns: ns}
	own := map[int]bool{}
	expose := func(hostPort, port int) error {
		own[port] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)))
		if err != nil {
			return fmt.Errorf("replica %s: the machine's end of port %d: %w", r.name, port, err)
		}
		n.stops = append(n.stops, ns.Expose(ln, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), e.log))
		return nil
	}
	if p := namespacePort(a); p != 0 {
		err = expose(r.port, p)
	}
	for target, hostPort := range r.extraPorts {
		if err == nil {
			err = expose(hostPort, target)
		}
	}
	if err != nil {
		n.close()
		return err
	}
	loop := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	var fws []netns.Forward
	if r.daprHTTPPort != 0 {
		fws = append(fws,
			netns.Forward{Listen: loop(spec.NamespaceDaprHTTPPort), Target: loop(r.daprHTTPPort)},
			netns.Forward{Listen: loop(spec.NamespaceDaprGRPCPort), Target: loop(r.daprGRPCPort)})
	}
	proxy := e.internalLn.Addr().String()
	fws = append(fws, netns.Forward{Listen: proxy, Target: proxy})
	for _, p := range rev.entry.HostPorts {
		fws = append(fws, netns.Forward{Listen: loop(p), Target: loop(p)})
	}
	fws = append(fws, e.appForwards(own)...)
	stop, err := ns.Forward(fws, e.log)
	if err != nil {
		n.close()
		return fmt.Errorf("replica %s: %w", r.name, err)
	}
	n.stops = append(n.stops, stop)
	r.network = n
	return nil
}

// appForwards relays, inside a namespace, the edge's ports on every app's
// loopback address (80, 443 and the app's TCP ports) to the same address
// on the machine, so an app's name (the hosts file's address) connects
// from inside as from the machine. Ports in own, which the namespace's
// app listens on, are left out: a listener on an app's address would keep
// the app from binding the port on every address.
func (e *Env) appForwards(own map[int]bool) []netns.Forward {
	if e.names == nil {
		return nil
	}
	var fws []netns.Forward
	// The table's apps: those a reload added too.
	for _, other := range e.names.Apps() {
		addr, ok := e.names.Addr(other)
		if !ok {
			continue
		}
		ports := []int{80, 443}
		e.mu.Lock()
		for _, oa := range e.apps {
			if oa.name == other {
				ports = append(ports, oa.ingress.TCPPorts()...)
			}
		}
		e.mu.Unlock()
		for _, p := range ports {
			if !own[p] {
				hp := net.JoinHostPort(addr.String(), strconv.Itoa(p))
				fws = append(fws, netns.Forward{Listen: hp, Target: hp})
			}
		}
	}
	return fws
}
