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
// (a tcp app's exposedPort and external additionalPortMappings) and closes
// those no app exposes any more. Closing a listener refuses new
// connections only; open ones run on until either side ends them.
func (e *Env) syncTCP() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return e.syncTCPLocked()
}

// syncTCPLocked is syncTCP with reloadMu held.
func (e *Env) syncTCPLocked() error {
	want := map[int]edge.TCPPort{}
	e.mu.Lock()
	for _, a := range e.apps {
		for _, p := range a.ingress.ExternalTCPPorts() {
			want[p] = edge.TCPPort{App: a.name, Port: p}
		}
	}
	e.mu.Unlock()
	if e.tcp == nil {
		e.tcp = map[int]*tcpListener{}
	}
	for port, l := range e.tcp {
		if want[port] != l.port {
			l.ln.Close()
			<-l.done
			delete(e.tcp, port)
		}
	}
	var errs []error
	for port, p := range want {
		if _, ok := e.tcp[port]; ok {
			continue
		}
		addr := net.JoinHostPort(e.spec.Edge.Address, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: edge cannot listen for TCP on %s: %w (is another process using the port? change exposedPort in %s)",
				p.App, addr, err, filepath.Base(e.appFile(p.App))))
			continue
		}
		l := &tcpListener{port: p, ln: ln, done: make(chan struct{})}
		go func() {
			defer close(l.done)
			if err := e.edge.ServeTCP(e.planeCtx, ln, p); err != nil {
				e.log.Warn("edge TCP listener stopped", "app", p.App, "port", p.Port, "err", err)
			}
		}()
		e.tcp[port] = l
	}
	return errors.Join(errs...)
}

// appFile is the ACA YAML file of an app, for messages.
func (e *Env) appFile(app string) string {
	for _, entry := range e.spec.Apps {
		if entry.App.Name == app {
			return entry.File
		}
	}
	return e.spec.File
}
