package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cove-env/cove/internal/edge"
	"github.com/cove-env/cove/internal/hosts"
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

// writeHosts gives every app its address and writes the hosts file the
// replicas see as /etc/hosts, when they are to resolve app names. The apps
// of a running environment do not change (adding one takes a restart), so
// it is written once, before any replica starts.
func (e *Env) writeHosts() error {
	if !e.spec.Edge.Names() || len(e.opts.Launcher) == 0 {
		return nil
	}
	t := hosts.New(e.spec.Dir)
	for _, entry := range e.spec.Apps {
		t.Add(entry.App.Name)
	}
	file := filepath.Join(e.stateDir, "hosts")
	if err := t.Write(file, e.spec.Domain); err != nil {
		return err
	}
	e.names, e.hostsFile = t, file
	return nil
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

// listenAppAddresses opens port 80 and 443 on every app's address, so
// replicas that resolve `<app>` reach http://<app> and https://<app>
// without HTTP_PROXY, as in ACA. Ports below 1024 take privileges most
// users do not have (root, CAP_NET_BIND_SERVICE, or a lowered
// net.ipv4.ip_unprivileged_port_start); without them such calls keep
// going through HTTP_PROXY, which every replica has.
func (e *Env) listenAppAddresses() (plain, secure []net.Listener) {
	if e.names == nil {
		return nil, nil
	}
	for _, entry := range e.spec.Apps {
		addr, ok := e.names.Addr(entry.App.Name)
		if !ok {
			continue
		}
		for _, port := range []string{"80", "443"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), port))
			if errors.Is(err, os.ErrPermission) {
				e.log.Info("apps reach http://<app> through HTTP_PROXY only: serving it on the apps' own addresses takes port 80, which needs privileges", "err", err)
				closeListeners(plain)
				closeListeners(secure)
				return nil, nil
			}
			if err != nil {
				e.log.Warn("edge cannot listen on an app's address", "app", entry.App.Name, "err", err)
				continue
			}
			if port == "80" {
				plain = append(plain, ln)
			} else {
				secure = append(secure, ln)
			}
		}
	}
	return plain, secure
}

func closeListeners(ls []net.Listener) {
	for _, ln := range ls {
		ln.Close()
	}
}
