package control

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/supervisor"
)

// freePort asks the kernel for a free loopback port. The port is released
// before the replica binds it, so another process could take it in
// between (the replica then fails to listen and restarts); the kernel may
// also offer it again at once, which portAllocator rules out for cove's
// own replicas.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// portAllocator hands out free loopback ports, never one it handed out in
// the last minute: each port is released before its replica binds it, so
// the kernel may offer the same one to two replicas starting at once.
type portAllocator struct {
	mu     sync.Mutex
	recent map[int]time.Time
}

// free is freePort without the ports handed out recently.
func (a *portAllocator) free() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for p, t := range a.recent {
		if now.Sub(t) > time.Minute {
			delete(a.recent, p)
		}
	}
	for range 50 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if _, dup := a.recent[p]; dup {
			continue
		}
		if a.recent == nil {
			a.recent = map[int]time.Time{}
		}
		a.recent[p] = now
		return p, nil
	}
	return 0, errors.New("find a free port: the kernel offered only ports handed out in the last minute")
}

// extraPorts allocates a port per target port of an app's
// additionalPortMappings: a process shares the host's network, so each
// replica needs its own port for each extra target, as for its PORT.
func (a *portAllocator) extraPorts(in *routing.Ingress) (map[int]int, error) {
	if in == nil || len(in.AdditionalPorts) == 0 {
		return nil, nil
	}
	out := make(map[int]int, len(in.AdditionalPorts))
	for _, m := range in.AdditionalPorts {
		p, err := a.free()
		if err != nil {
			return nil, fmt.Errorf("port for target port %d: %w", m.TargetPort, err)
		}
		out[m.TargetPort] = p
	}
	return out, nil
}

// ExtraPortEnvPrefix names the variable that tells a replica which port to
// listen on for an additionalPortMappings target port: PORT_9000=41234
// means "serve what the container would serve on 9000 on 41234".
const ExtraPortEnvPrefix = "PORT_"

// extraPortEnv renders a replica's extra ports as PORT_<target> variables,
// in target port order.
func extraPortEnv(ports map[int]int) []string {
	targets := slices.Sorted(maps.Keys(ports))
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		out = append(out, ExtraPortEnvPrefix+strconv.Itoa(t)+"="+strconv.Itoa(ports[t]))
	}
	return out
}

// remapExtraPorts points probes that name a target port of
// additionalPortMappings at the replica's own port for it.
func remapExtraPorts(probes []supervisor.Probe, extra map[int]int) []supervisor.Probe {
	if len(extra) == 0 {
		return probes
	}
	for i, p := range probes {
		if p.TCPSocket != nil {
			if port, ok := extra[p.TCPSocket.Port]; ok {
				t := *p.TCPSocket
				t.Port = port
				probes[i].TCPSocket = &t
			}
		}
		if p.HTTPGet != nil {
			if port, ok := extra[p.HTTPGet.Port]; ok {
				h := *p.HTTPGet
				h.Port = port
				probes[i].HTTPGet = &h
			}
		}
	}
	return probes
}
