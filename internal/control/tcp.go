package control

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/cove-env/cove/internal/edge"
)

// tcpListener is one of the edge's TCP ports and the app port it serves.
type tcpListener struct {
	port edge.TCPPort
	ln   net.Listener
	done chan struct{}
}

// syncTCP opens an edge listener for every external TCP port of the apps
// (a tcp app's exposedPort and external additionalPortMappings) on the
// edge's address, and, when replicas resolve app names, one for every TCP
// port of each app on the app's own address, so `<app>:<port>` reaches it
// from inside. It closes those no app exposes any more. Closing a listener
// refuses new connections only; open ones run on until either side ends
// them.
func (e *Env) syncTCP() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return e.syncTCPLocked()
}

// syncTCPLocked is syncTCP with reloadMu held.
func (e *Env) syncTCPLocked() error {
	want := map[string]edge.TCPPort{}
	e.mu.Lock()
	for _, a := range e.apps {
		for _, p := range a.ingress.ExternalTCPPorts() {
			want[net.JoinHostPort(e.spec.Edge.Address, strconv.Itoa(p))] = edge.TCPPort{App: a.name, Port: p}
		}
		if e.names == nil {
			continue
		}
		if addr, ok := e.names.Addr(a.name); ok {
			for _, p := range a.ingress.TCPPorts() {
				want[net.JoinHostPort(addr.String(), strconv.Itoa(p))] = edge.TCPPort{App: a.name, Port: p, Inside: true}
			}
		}
	}
	e.mu.Unlock()
	if e.tcp == nil {
		e.tcp = map[string]*tcpListener{}
	}
	for addr, l := range e.tcp {
		if want[addr] != l.port {
			l.ln.Close()
			<-l.done
			delete(e.tcp, addr)
		}
	}
	var errs []error
	for addr, p := range want {
		if _, ok := e.tcp[addr]; ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fix := "is another process using the port? change exposedPort in " + filepath.Base(e.appFile(p.App))
			if p.Inside {
				fix = "is another cove environment using the address? set edge.appNames: false in " + filepath.Base(e.spec.File)
			}
			errs = append(errs, fmt.Errorf("app %s: edge cannot listen for TCP on %s: %w (%s)", p.App, addr, err, fix))
			continue
		}
		l := &tcpListener{port: p, ln: ln, done: make(chan struct{})}
		go func() {
			defer close(l.done)
			if err := e.edge.ServeTCP(e.planeCtx, ln, p); err != nil {
				e.log.Warn("edge TCP listener stopped", "app", p.App, "port", p.Port, "err", err)
			}
		}()
		e.tcp[addr] = l
	}
	return errors.Join(errs...)
}

// appFile is the ACA YAML file of an app, for messages.
func (e *Env) appFile(app string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.apps {
		if a.name == app {
			return a.current.File
		}
	}
	return e.spec.File
}
