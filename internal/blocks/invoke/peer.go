package invoke

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc/credentials"
)

// PeerTransport carries invocations for standalone sidecars: calls to the
// sidecar's own app go to the app as they are, and calls to any other app
// go to the target sidecar's internal listener over HTTP/2 with mutual TLS,
// the target's identity checked against the callee on every response.
//
// It tells the two apart by the callee identity header the Invoker stamps
// on every request (callers cannot set it), so the Resolver it pairs with
// returns the app's own address for the own app id and the internal
// listener of a peer sidecar, with ProtocolHTTP, for every other.
type PeerTransport struct {
	self   string
	local  http.RoundTripper
	remote *http.Transport
	verify func(cs *tls.ConnectionState, appID string) error
}

// PeerTransportOptions configure a PeerTransport.
type PeerTransportOptions struct {
	// Self is the sidecar's own app id.
	Self string
	// Local carries calls to the own app; default NewTransport().
	Local http.RoundTripper
	// TLS is the client side of sidecar-to-sidecar mTLS: the sidecar's
	// certificate and how the peer's chain is verified (required).
	TLS *tls.Config
	// VerifyPeer checks that a verified connection's peer is the sidecar of
	// appID (required): a stale registration may point at a port another
	// sidecar has taken since.
	VerifyPeer func(cs *tls.ConnectionState, appID string) error
}

// NewPeerTransport returns a PeerTransport.
func NewPeerTransport(opts PeerTransportOptions) (*PeerTransport, error) {
	if opts.Self == "" || opts.TLS == nil || opts.VerifyPeer == nil {
		return nil, errors.New("peer transport: own app id, TLS configuration and peer verification are required")
	}
	local := opts.Local
	if local == nil {
		local = NewTransport()
	}
	cfg := opts.TLS.Clone()
	cfg.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	remote := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        cfg,
		TLSHandshakeTimeout:    5 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  ResponseHeaderTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	remote.Protocols = new(http.Protocols)
	remote.Protocols.SetHTTP2(true)
	return &PeerTransport{self: opts.Self, local: local, remote: remote, verify: opts.VerifyPeer}, nil
}

// RoundTrip sends req to the own app or to the peer sidecar at its host.
func (t *PeerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	callee := req.Header.Get(HeaderCalleeAppID)
	if callee == "" || callee == t.self {
		return t.local.RoundTrip(req)
	}
	out := new(http.Request)
	*out = *req
	u := *req.URL
	u.Scheme = "https"
	out.URL = &u
	resp, err := t.remote.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if err := t.verify(resp.TLS, callee); err != nil {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("sidecar at %s: %w", req.URL.Host, err)
	}
	return resp, nil
}

// CloseIdleConnections closes idle connections of both transports.
func (t *PeerTransport) CloseIdleConnections() {
	t.remote.CloseIdleConnections()
	if c, ok := t.local.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var _ PeerCredentials = (*PeerTransport)(nil)

// GRPCCredentials is the client side of sidecar-to-sidecar mTLS for gRPC
// proxying: any app but the own one is behind a peer sidecar, whose
// certificate must name that app (as RoundTrip checks per response).
func (t *PeerTransport) GRPCCredentials(target Target) credentials.TransportCredentials {
	if target.AppID == "" || target.AppID == t.self {
		return nil
	}
	cfg := t.remote.TLSClientConfig.Clone()
	chain := cfg.VerifyConnection
	callee := target.AppID
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if chain != nil {
			if err := chain(cs); err != nil {
				return err
			}
		}
		return t.verify(&cs, callee)
	}
	return credentials.NewTLS(cfg)
}
