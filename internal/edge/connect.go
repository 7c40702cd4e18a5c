package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// serveConnect opens a TCP tunnel for CONNECT host:port, which is how clients
// reach https:// URLs through a proxy. An app's name tunnels to one of its
// replicas; any other host is dialled as it is.
func (e *Edge) serveConnect(w http.ResponseWriter, r *http.Request, d decision) {
	h := &hop{}
	if (d.verdict == toApp || d.verdict == noReplica) && d.target == 0 && e.terminatesTLS(d.port) {
		h.app = d.app.Name
		defer e.logRequest(r.Context(), r, h, time.Now())
		e.terminateTLS(w, r, h)
		return
	}
	switch d.verdict {
	case toApp:
		ep, ok := d.app.Pick()
		if !ok {
			e.noReplica(w, r, d.app)
			return
		}
		h.app, h.replica, h.addr = d.app.Name, ep.Replica, ep.Addr
		if d.target != 0 {
			// A TCP port: the tunnel goes to the replica's port for it.
			if h.addr, ok = ep.AddrFor(d.target, d.app.Ingress.TargetPort); !ok {
				e.reply(w, r, http.StatusBadGateway, fmt.Sprintf("replica %q of app %q has no port for target port %d", ep.Replica, d.app.Name, d.target))
				return
			}
		}
	case noReplica:
		e.noReplica(w, r, d.app)
		return
	case forward:
		if d.port == "" {
			e.reply(w, r, http.StatusBadRequest, fmt.Sprintf("CONNECT needs host:port, got %q", r.Host))
			return
		}
		h.addr = net.JoinHostPort(d.host, d.port)
	default:
		e.reply(w, r, http.StatusNotFound, d.reason)
		return
	}
	start := time.Now()
	defer e.logRequest(r.Context(), r, h, start)
	e.tunnel(w, r, h)
}

// tunnel dials h.addr, takes over the client connection and copies bytes both
// ways until both sides are done, one side fails, or the edge shuts down.
func (e *Edge) tunnel(w http.ResponseWriter, r *http.Request, h *hop) {
	dialer := e.dialer
	if h.app == "" {
		dialer = e.tunnelDialer
	}
	up, err := dialer.DialContext(r.Context(), "tcp", h.addr)
	if err != nil {
		h.err, h.status = err, http.StatusBadGateway
		var ne net.Error
		switch {
		case errors.Is(err, errLocalTarget):
			h.status = http.StatusForbidden
			http.Error(w, fmt.Sprintf("host %s is on this machine: %v", h.addr, errLocalTarget), h.status)
			return
		case errors.As(err, &ne) && ne.Timeout():
			h.status = http.StatusGatewayTimeout
		}
		http.Error(w, fmt.Sprintf("cannot reach %s: %v", h.addr, err), h.status)
		return
	}
	defer up.Close()

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Only HTTP/1 connections can be taken over, and the internal
		// listener speaks nothing else.
		h.err, h.status = err, http.StatusNotImplemented
		http.Error(w, "CONNECT is supported over HTTP/1.1 only", h.status)
		return
	}
	defer conn.Close()
	// The server may have left a header read deadline on the connection; a
	// tunnel may stay idle for as long as its ends like.
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		h.err, h.status = err, clientGone
		return
	}
	h.status = http.StatusOK

	// A shutting-down edge ends its tunnels: the request context is derived
	// from the server's base context, which Serve cancels after the grace
	// period.
	stop := context.AfterFunc(r.Context(), func() {
		conn.Close()
		up.Close()
	})
	defer stop()

	done := make(chan error, 2)
	go pipe(up, clientReader(conn, brw.Reader), done)
	go pipe(conn, up, done)
	if err := <-done; err != nil {
		// One side broke; the other would wait forever for a peer that is gone.
		conn.Close()
		up.Close()
	}
	<-done
}

// clientReader reads a hijacked connection: first what the server had
// already buffered (often the TLS ClientHello sent right after CONNECT),
// then the connection itself. Reading on through the server's reader would
// let it see the client's half-close as the client leaving, and cancel the
// request's context, which ends the tunnel.
func clientReader(conn net.Conn, br *bufio.Reader) io.Reader {
	n := br.Buffered()
	if n == 0 {
		return conn
	}
	b, _ := br.Peek(n) // n bytes are buffered, so Peek cannot fail
	return io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
}

// pipe copies src to dst, then half-closes dst so the peer sees the end of
// the stream while the other direction may still be running.
func pipe(dst net.Conn, src io.Reader, done chan<- error) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		dst.Close()
	}
	done <- err
}

// errLocalTarget refuses what the internal proxy would otherwise forward to
// this machine itself.
var errLocalTarget = errors.New("the internal proxy forwards to this machine only plain HTTP to the environment's " +
	"replicas and sidecars (its apps are reached by name; 127.0.0.1 and ::1 bypass the proxy)")

// guardLocal is a dialer's check of the address it is about to connect to,
// resolved: the forward proxy reaches hosts outside this machine (the
// internet, as apps in ACA do), and on this machine only the ports of the
// environment's replicas and sidecars (apps that call their sidecar as
// localhost, which many HTTP clients send through the proxy), never for a
// tunnel. Everything else local (sidecars' gRPC ports, cove's listeners,
// databases) stays out of reach through it.
func (e *Edge) guardLocal(tunnel bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return nil
		}
		if ip := ap.Addr().Unmap(); !ip.IsLoopback() && !ip.IsUnspecified() {
			return nil
		}
		if !tunnel && e.routes.Load().LocalPort(int(ap.Port())) {
			return nil
		}
		return errLocalTarget
	}
}
