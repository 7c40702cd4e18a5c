package edge

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/h1"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/upstream"
)

const (
	// DefaultDomain is the environment domain when Options.Domain is empty.
	DefaultDomain = "localhost"
	// DefaultRequestTimeout is ACA's ingress request timeout.
	DefaultRequestTimeout = 240 * time.Second

	// dialTimeout bounds connecting to a replica or a CONNECT target.
	dialTimeout = 10 * time.Second
	// Server limits. There is no read or write timeout: uploads, event
	// streams and WebSockets may legitimately last long; the request timeout
	// bounds the wait for an app instead.
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	// maxHeaderBytes bounds a request's line and headers, blank line
	// included (net/http's server takes h1.HeaderAllowance more than its
	// MaxHeaderBytes).
	maxHeaderBytes = 64 << 10
	// maxHeaderCount bounds the number of request header fields, as
	// Envoy's ingress does (100), so many tiny headers cannot stand in for
	// a few large ones.
	maxHeaderCount = 100
	// maxFrameSize is the largest HTTP/2 frame the edge reads: the
	// protocol's initial value, which nginx keeps too. net/http would
	// advertise 1 MiB; at 16 KiB a header block too large for one frame is
	// the connection error RFC 9113 section 4.2 asks for.
	maxFrameSize = 16 << 10
	// shutdownGrace is how long in-flight requests may finish once Serve's
	// context ends.
	shutdownGrace = 10 * time.Second
	// retryAfter is sent with 503 while an app has no ready replica; replicas
	// usually become ready within seconds.
	retryAfter = "5"
)

// Options configure an Edge.
type Options struct {
	// Routes is the live topology. Nil means an empty environment.
	Routes *routing.Source
	// Domain is the environment domain; apps are <app>.<Domain>. Default
	// "localhost".
	Domain string
	// Logger receives debug lines per request and listener events. Nil
	// discards.
	Logger *slog.Logger
	// RequestTimeout bounds how long an upstream may take to send its
	// response headers; past it the caller gets 504. Default 240s as in ACA.
	// Once the response has started it may stream for as long as it needs.
	RequestTimeout time.Duration
	// Certificates returns the TLS certificate for a client hello; the HTTPS
	// listener and https://<app> calls from inside the environment need it.
	// Nil disables both.
	Certificates func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// HTTPSPort is the public HTTPS port that plain HTTP requests to apps
	// without allowInsecure are redirected to. Serve sets it from the HTTPS
	// listener when zero; with neither, nothing is redirected.
	HTTPSPort int
	// TCPIdleTimeout closes a TCP connection (ServeTCP) on which neither
	// side sent anything for this long. Default DefaultTCPIdleTimeout.
	TCPIdleTimeout time.Duration
	// TCPMaxConns bounds the open connections of each TCP port. Default
	// DefaultTCPMaxConns.
	TCPMaxConns int
}

// Edge serves the public ingress and the internal proxy of one environment.
// It is safe for concurrent use; build it with New.
type Edge struct {
	routes  *routing.Source
	domain  string
	log     *slog.Logger
	timeout time.Duration
	certs   func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// httpsPort is where redirects to HTTPS point; 0 while unknown.
	httpsPort atomic.Int32
	// inner accepts the connections of CONNECT tunnels to an app's HTTPS
	// port, which the edge terminates itself; nil while not serving.
	inner atomic.Pointer[h1.ConnListener]

	transport *http.Transport
	// replicas sends HTTP/1.1 requests to replicas on the handler's own
	// goroutine; what it cannot, it leaves to transport.
	replicas *upstream.Transport
	// h2c speaks cleartext HTTP/2 to apps with transport http2.
	h2c *http.Transport
	// replicaTLS and replicaH2 reach apps that serve HTTPS on their target
	// port, over HTTP/1.1 and (transport http2) HTTP/2.
	replicaTLS, replicaH2 *http.Transport
	// bounded is roundTrip with the request timeout on response headers.
	bounded http.RoundTripper
	dialer  *net.Dialer
	// forwardTransport and tunnelDialer reach hosts that are not apps,
	// for the forward proxy and its CONNECT tunnels; they refuse this
	// machine's addresses (see guardLocal).
	forwardTransport *http.Transport
	tunnelDialer     *net.Dialer
	// appProxy forwards to replicas, fwdProxy to hosts outside the
	// environment. Each request carries its target in a *hop.
	appProxy    *httputil.ReverseProxy
	fwdProxy    *httputil.ReverseProxy
	tcpIdle     time.Duration
	tcpMaxConns int
	// via names this edge in the Via header of forward-proxied requests, so a
	// request that comes back to it (a Host naming the proxy itself) is caught.
	via string
}

// New builds an Edge. It opens nothing; see Serve or the handlers.
func New(opts Options) *Edge {
	e := &Edge{
		routes:  opts.Routes,
		domain:  strings.TrimSuffix(strings.ToLower(opts.Domain), "."),
		log:     opts.Logger,
		timeout: opts.RequestTimeout,
		certs:   opts.Certificates,
		dialer:  &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		via:     "cove-" + randomID(),

		tcpIdle:     opts.TCPIdleTimeout,
		tcpMaxConns: opts.TCPMaxConns,
	}
	if e.tcpIdle <= 0 {
		e.tcpIdle = DefaultTCPIdleTimeout
	}
	if e.tcpMaxConns <= 0 {
		e.tcpMaxConns = DefaultTCPMaxConns
	}
	if e.routes == nil {
		e.routes = &routing.Source{}
	}
	if e.domain == "" {
		e.domain = DefaultDomain
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.timeout <= 0 {
		e.timeout = DefaultRequestTimeout
	}
	e.httpsPort.Store(int32(opts.HTTPSPort))
	e.transport = &http.Transport{
		// Never consult HTTP_PROXY: this process may have it set for its own
		// apps, and the edge itself is that proxy.
		Proxy:       nil,
		DialContext: e.dialer.DialContext,
		// A load test at 64 concurrent clients keeps 64 connections per
		// replica busy; a smaller idle pool would close and redial them and
		// run the machine out of ephemeral ports in TIME_WAIT.
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A proxy passes bodies through as they are; transparent gzip would
		// change what the client asked for.
		DisableCompression: true,
	}
	// Replicas speak plain HTTP/1.1 unless their transport says http2.
	e.transport.Protocols = new(http.Protocols)
	e.transport.Protocols.SetHTTP1(true)
	e.h2c = &http.Transport{
		Proxy:              nil,
		DialContext:        e.dialer.DialContext,
		IdleConnTimeout:    90 * time.Second,
		DisableCompression: true,
		// One connection carries many streams, so a small pool suffices.
		MaxIdleConnsPerHost: 4,
		Protocols:           new(http.Protocols),
		HTTP2: &http.HTTP2Config{
			// Detect a replica that went away without closing the
			// connection, so long gRPC streams do not hang on it.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		},
	}
	e.h2c.Protocols.SetUnencryptedHTTP2(true)
	// An app's own certificate is not checked, as ACA's ingress does not:
	// the edge is what clients trust, and an app serving HTTPS on its
	// target port usually does so with a development certificate.
	e.replicaTLS = e.transport.Clone()
	e.replicaTLS.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	e.replicaH2 = e.replicaTLS.Clone()
	e.replicaH2.MaxIdleConnsPerHost = 4
	e.replicaH2.Protocols = new(http.Protocols)
	e.replicaH2.Protocols.SetHTTP2(true)
	e.replicaH2.HTTP2 = e.h2c.HTTP2
	e.forwardTransport = e.transport.Clone()
	e.forwardTransport.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: e.guardLocal(false)}).DialContext
	e.tunnelDialer = &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: e.guardLocal(true)}
	e.replicas = &upstream.Transport{
		Dial:                  e.dialer.DialContext,
		Fallback:              &timeoutTransport{base: e.transport.RoundTrip, d: e.timeout},
		MaxIdlePerHost:        256,
		ResponseHeaderTimeout: e.timeout,
	}
	e.bounded = &timeoutTransport{base: e.roundTrip, d: e.timeout}
	errLog := slog.NewLogLogger(e.log.Handler(), slog.LevelDebug)
	bufs := newBufferPool()
	e.appProxy = &httputil.ReverseProxy{
		Rewrite: e.rewriteToApp,
		// The replicas' transport bounds the wait for headers itself.
		Transport:  roundTripFunc(e.roundTripApp),
		BufferPool: bufs,
		// No FlushInterval: ReverseProxy would start a timer for every
		// response, and each one wakes the network poller. Event streams
		// and bodies of unknown length (chunked) are flushed on every
		// write by ReverseProxy itself; bodies of known length are flushed
		// whenever the upstream makes the edge wait (promptBody).
		ModifyResponse: recordStatus,
		ErrorHandler:   e.proxyError,
		ErrorLog:       errLog,
	}
	e.fwdProxy = &httputil.ReverseProxy{
		Rewrite:        e.rewriteForward,
		Transport:      e.bounded,
		BufferPool:     bufs,
		ModifyResponse: recordStatus,
		ErrorHandler:   e.proxyError,
		ErrorLog:       errLog,
	}
	return e
}

// randomID names one edge instance; it need only differ between edges that
// might proxy to each other.
func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

// PublicHandler serves the external listener: <app>.<domain> of apps with
// external ingress.
func (e *Edge) PublicHandler() http.Handler { return http.HandlerFunc(e.servePublic) }

// authorityConflict reports whether r is an HTTP/2 request with a host
// field naming another host than its :authority, which RFC 9113 (section
// 8.3.1) makes malformed: the edge routes by one, an app might read the
// other.
func authorityConflict(r *http.Request) bool {
	if r.ProtoMajor != 2 {
		return false
	}
	for _, h := range r.Header.Values("Host") {
		if !strings.EqualFold(h, r.Host) {
			return true
		}
	}
	return false
}

// refuseMalformed answers what the edge refuses before routing: too many
// header fields, an HTTP/2 host that contradicts its :authority. It
// reports whether it answered.
func (e *Edge) refuseMalformed(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case tooManyHeaders(r):
		e.reply(w, r, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("more than %d request header fields", maxHeaderCount))
	case authorityConflict(r):
		e.reply(w, r, http.StatusBadRequest, fmt.Sprintf("host field %q differs from :authority %q", r.Header.Get("Host"), r.Host))
	default:
		return false
	}
	return true
}

// tooManyHeaders reports whether r has more header fields than the edge
// accepts.
func tooManyHeaders(r *http.Request) bool {
	n := 1 // Host, which net/http moves out of r.Header
	for _, v := range r.Header {
		n += len(v)
	}
	return n > maxHeaderCount
}

// ReplicaExited closes the kept-alive connections to a replica's addresses
// (host:port) once its process has exited, so a process started again on
// the same port is not sent requests on the old one's connections.
func (e *Edge) ReplicaExited(addrs ...string) {
	for _, a := range addrs {
		e.replicas.CloseIdleTo(a)
	}
}

// InternalHandler serves the listener apps reach through HTTP_PROXY: every app
// with ingress by name, everything else as a forward proxy, CONNECT tunnels.
func (e *Edge) InternalHandler() http.Handler { return http.HandlerFunc(e.serveInternal) }

func (e *Edge) servePublic(w http.ResponseWriter, r *http.Request) {
	if e.refuseMalformed(w, r) {
		return
	}
	if r.Method == http.MethodConnect {
		e.reply(w, r, http.StatusMethodNotAllowed, "CONNECT is not served by the public edge")
		return
	}
	t := e.routes.Load()
	d := publicRoute(t, e.domain, r.Host)
	switch d.verdict {
	case toApp, noReplica:
		pol, ok := e.admit(w, r, d)
		if !ok {
			return
		}
		if d.verdict == noReplica {
			e.noReplica(w, r, d.app)
			return
		}
		e.proxyToApp(w, r, d.app, pol, 0)
	case listing:
		e.listApps(w, r, t, d)
	default:
		e.reply(w, r, http.StatusNotFound, d.reason)
	}
}

func (e *Edge) serveInternal(w http.ResponseWriter, r *http.Request) {
	if e.refuseMalformed(w, r) {
		return
	}
	if e.looped(r) {
		e.reply(w, r, http.StatusLoopDetected, fmt.Sprintf("host %q is this proxy itself", r.Host))
		return
	}
	d := internalRoute(e.routes.Load(), e.domain, r.Host)
	if r.Method == http.MethodConnect {
		e.serveConnect(w, r, d)
		return
	}
	switch d.verdict {
	case toApp:
		e.proxyToApp(w, r, d.app, policy{}, d.target)
	case noReplica:
		e.noReplica(w, r, d.app)
	case forward:
		e.forward(w, r, d)
	default:
		e.reply(w, r, http.StatusNotFound, d.reason)
	}
}

// looped reports whether r already passed through this edge's forward proxy.
func (e *Edge) looped(r *http.Request) bool {
	for _, v := range r.Header.Values("Via") {
		if strings.Contains(v, e.via) {
			return true
		}
	}
	return false
}

// noReplica answers 503 for an app that exists but has nothing ready yet.
func (e *Edge) noReplica(w http.ResponseWriter, r *http.Request, app *routing.App) {
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, fmt.Sprintf("app %q has no ready replica", app.Name), http.StatusServiceUnavailable)
	e.logRequest(r.Context(), r, &hop{app: app.Name, status: http.StatusServiceUnavailable}, time.Time{})
}

// listApps answers a bare host on the public edge with where the external apps
// are, which is what a developer opening http://localhost:<port> wants.
func (e *Edge) listApps(w http.ResponseWriter, r *http.Request, t *routing.Table, d decision) {
	scheme := "http"
	if h1.TLS(r) != nil {
		scheme = "https"
	}
	suffix := ""
	if d.port != "" {
		suffix = ":" + d.port
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no app is served at host %q; apps are at <app>.%s\n\n", d.host, e.domain)
	n := 0
	for _, a := range t.Apps() {
		if a.Ingress == nil || !a.Ingress.External {
			continue
		}
		if n == 0 {
			b.WriteString("external apps:\n")
		}
		n++
		fmt.Fprintf(&b, "  %-24s %s://%s.%s%s\n", a.Name, scheme, a.Name, e.domain, suffix)
	}
	if n == 0 {
		b.WriteString("no app has external ingress.\n")
	}
	e.reply(w, r, http.StatusNotFound, strings.TrimSuffix(b.String(), "\n"))
}

// reply answers from the edge itself with a short text body.
func (e *Edge) reply(w http.ResponseWriter, r *http.Request, status int, msg string) {
	http.Error(w, msg, status)
	e.logRequest(r.Context(), r, &hop{status: status}, time.Time{})
}

// Listeners are the sockets an edge serves; any may be nil.
type Listeners struct {
	// HTTP is the public cleartext listener: HTTP/1.1 and HTTP/2 with prior
	// knowledge (h2c).
	HTTP net.Listener
	// HTTPS is the public TLS listener: HTTP/2 and HTTP/1.1 by ALPN. It needs
	// Options.Certificates.
	HTTPS net.Listener
	// Internal is the internal proxy apps reach through HTTP_PROXY: HTTP/1.1
	// (with CONNECT) and h2c.
	Internal net.Listener
	// Apps and AppsTLS serve the internal proxy's routes on apps' own
	// addresses, port 80 and 443, to clients that resolve `<app>` and
	// call http://<app> or https://<app> without a proxy; TLS is the
	// environment CA's, as for https://<app> through the proxy.
	Apps, AppsTLS []net.Listener
}

// Serve runs the listeners until ctx ends, then shuts them down gracefully:
// new connections are refused, in-flight requests get a grace period, and
// tunnels and upgraded connections, which a server does not track, are
// closed after it. It returns nil after a shutdown caused by ctx, or the
// first listener's error.
func (e *Edge) Serve(ctx context.Context, ls Listeners) error {
	if ls.HTTPS != nil && e.certs == nil {
		return errors.New("edge: an HTTPS listener needs Options.Certificates")
	}
	// Requests must outlive ctx during the grace period, so their base
	// context is cancelled only once the grace period is over.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()

	if len(ls.AppsTLS) > 0 && e.certs == nil {
		return errors.New("edge: app HTTPS listeners need Options.Certificates")
	}
	type listener struct {
		name string
		ln   net.Listener
		h    http.Handler
		tls  *tls.Config
	}
	all := []listener{
		{name: "public", ln: ls.HTTP, h: e.PublicHandler()},
		{name: "public-tls", ln: ls.HTTPS, h: e.PublicHandler(), tls: e.publicTLSConfig()},
		{name: "internal", ln: ls.Internal, h: e.InternalHandler()},
	}
	for _, ln := range ls.Apps {
		all = append(all, listener{name: "app", ln: ln, h: e.InternalHandler()})
	}
	for _, ln := range ls.AppsTLS {
		all = append(all, listener{name: "app-tls", ln: ln, h: e.InternalHandler(), tls: e.innerTLSConfig()})
	}
	if ls.HTTPS != nil && e.httpsPort.Load() == 0 {
		if a, ok := ls.HTTPS.Addr().(*net.TCPAddr); ok {
			e.httpsPort.Store(int32(a.Port))
		}
	}
	// Calls from apps to https://<app> arrive as CONNECT tunnels on the
	// internal listener; the edge terminates their TLS on this listener.
	if ls.Internal != nil && e.certs != nil {
		inner := h1.NewConnListener(ls.Internal.Addr())
		e.inner.Store(inner)
		defer e.inner.Store(nil)
		all = append(all, listener{name: "internal-tls", ln: inner, h: e.InternalHandler(), tls: e.innerTLSConfig()})
	}
	// Every listener serves plain HTTP/1.1 requests with h1 and hands the
	// rest (h2 and h2c, upgrades, CONNECT) to net/http.
	type server interface {
		Shutdown(context.Context) error
		Close() error
	}
	var servers []server
	errc := make(chan error, len(all))
	for _, l := range all {
		if l.ln == nil {
			continue
		}
		srv := &http.Server{
			Handler:           l.h,
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes - h1.HeaderAllowance,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
			Protocols:         new(http.Protocols),
			HTTP2:             &http.HTTP2Config{MaxReadFrameSize: maxFrameSize},
			TLSConfig:         l.tls,
		}
		srv.Protocols.SetHTTP1(true)
		fast := h1.New(srv)
		servers = append(servers, fast)
		serve := func() error { return fast.Serve(l.ln) }
		if l.tls != nil {
			srv.Protocols.SetHTTP2(true)
			serve = func() error { return fast.ServeTLS(l.ln) }
		} else {
			srv.Protocols.SetUnencryptedHTTP2(true)
		}
		if _, isInner := l.ln.(*h1.ConnListener); !isInner {
			level := slog.LevelInfo
			if strings.HasPrefix(l.name, "app") {
				level = slog.LevelDebug // one per app: too many for a start's summary
			}
			e.log.LogAttrs(ctx, level, "edge listening",
				slog.String("listener", l.name), slog.String("addr", l.ln.Addr().String()))
		}
		go func() {
			err := serve()
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("%s listener %s: %w", l.name, l.ln.Addr(), err)
			}
			errc <- err
		}()
	}
	if len(servers) == 0 {
		return errors.New("edge: no listener to serve")
	}

	var err error
	pending := len(servers)
	select {
	case <-ctx.Done():
	case err = <-errc:
		pending--
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() { _ = srv.Shutdown(sctx) })
	}
	wg.Wait()
	cancelBase()
	for _, srv := range servers {
		_ = srv.Close()
	}
	for ; pending > 0; pending-- {
		if serr := <-errc; err == nil {
			err = serr
		}
	}
	return err
}
