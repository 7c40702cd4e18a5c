package edge

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cove-env/cove/internal/routing"
)

// alpn is what the edge's TLS listeners offer: HTTP/2 first, as browsers
// and gRPC clients expect.
var alpn = []string{"h2", "http/1.1"}

// publicTLSConfig is the HTTPS listener's configuration. Whether to ask for
// a client certificate depends on the app, so it is decided per handshake
// from the server name; the certificate is never verified against a CA, as
// in ACA, where the app judges it from X-Forwarded-Client-Cert.
func (e *Edge) publicTLSConfig() *tls.Config {
	if e.certs == nil {
		return nil
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     alpn,
		GetCertificate: e.certs,
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		var auth tls.ClientAuthType
		switch e.clientCertMode(hello.ServerName) {
		case routing.ClientCertAccept:
			auth = tls.RequestClientCert
		case routing.ClientCertRequire:
			auth = tls.RequireAnyClientCert
		default:
			return nil, nil // the base configuration
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = auth
		return c, nil
	}
	return base
}

// clientCertMode is the client certificate mode of the external app a TLS
// server name points at; ignore for anything else.
func (e *Edge) clientCertMode(serverName string) routing.ClientCertMode {
	d := publicRoute(e.routes.Load(), e.domain, serverName)
	if d.app == nil || d.app.Ingress == nil {
		return routing.ClientCertIgnore
	}
	return d.app.Ingress.ClientCert
}

// innerTLSConfig serves https://<app> calls from inside the environment.
func (e *Edge) innerTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn, GetCertificate: e.certs}
}

// terminatesTLS reports whether a CONNECT to an app on port is an HTTPS call
// the edge answers itself rather than a raw tunnel to a replica.
func (e *Edge) terminatesTLS(port string) bool {
	if e.inner.Load() == nil {
		return false
	}
	return port == "443" || port == strconv.Itoa(int(e.httpsPort.Load()))
}

// terminateTLS takes over a CONNECT tunnel's client connection and hands it
// to the edge's internal TLS server, so the app's HTTPS request is routed,
// balanced and logged like a plain one.
func (e *Edge) terminateTLS(w http.ResponseWriter, r *http.Request, h *hop) {
	inner := e.inner.Load()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.err, h.status = err, http.StatusNotImplemented
		http.Error(w, "CONNECT is supported over HTTP/1.1 only", h.status)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		h.err, h.status = err, clientGone
		conn.Close()
		return
	}
	h.status = http.StatusOK
	if !inner.Deliver(&bufferedConn{Conn: conn, r: clientReader(conn, brw.Reader)}) {
		conn.Close() // the edge is shutting down
	}
}

// bufferedConn reads what the server had already buffered (often the TLS
// ClientHello) before reading the connection itself.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
