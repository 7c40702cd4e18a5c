package control

import (
	"errors"
	"net"
	"os"
	"path/filepath"

	"github.com/cove-env/cove/internal/hosts"
)

// writeHosts gives every app its address and writes the hosts file the
// replicas see as /etc/hosts, when they are to resolve app names. It is
// written before any replica starts; an app a reload adds is written in
// by addAppName.
func (p *plane) writeHosts() error {
	if !p.spec.Edge.Names() || len(p.opts.Launcher) == 0 {
		return nil
	}
	t := hosts.New(p.spec.Dir)
	for _, entry := range p.spec.Apps {
		t.Add(entry.App.Name)
	}
	file := filepath.Join(p.stateDir, "hosts")
	if err := t.Write(file, p.spec.Domain); err != nil {
		return err
	}
	p.names, p.hostsFile = t, file
	return nil
}

// listenAppAddresses opens port 80 and 443 on every app's address, so
// replicas that resolve `<app>` reach http://<app> and https://<app>
// without HTTP_PROXY, as in ACA. Ports below 1024 take privileges most
// users do not have (root, CAP_NET_BIND_SERVICE, or a lowered
// net.ipv4.ip_unprivileged_port_start); without them such calls keep
// going through HTTP_PROXY, which every replica has.
func (p *plane) listenAppAddresses() (plain, secure []net.Listener) {
	if p.names == nil {
		return nil, nil
	}
	for _, entry := range p.spec.Apps {
		addr, ok := p.names.Addr(entry.App.Name)
		if !ok {
			continue
		}
		for _, port := range []string{"80", "443"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), port))
			if errors.Is(err, os.ErrPermission) {
				p.log.Info("apps reach http://<app> through HTTP_PROXY only: serving it on the apps' own addresses takes port 80, which needs privileges", "err", err)
				closeListeners(plain)
				closeListeners(secure)
				return nil, nil
			}
			if err != nil {
				p.log.Warn("edge cannot listen on an app's address", "app", entry.App.Name, "err", err)
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

// addAppName gives an app a reload adds its address and writes the hosts
// file again, in place, so that replicas already running (which see the
// file through a bind mount of it) resolve the new name too.
func (p *plane) addAppName(app string) error {
	if p.names == nil {
		return nil
	}
	p.names.Add(app)
	return p.names.Write(p.hostsFile, p.spec.Domain)
}
