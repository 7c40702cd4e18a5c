package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/h1"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/upstream"
)

// hop is one proxied request's target, carried from the handler to the
// proxy's callbacks in the request context, and its outcome carried back for
// the log line. All of it is touched from the handler's goroutine only.
type hop struct {
	app     string // "" when forward-proxied
	replica string
	// addr is the upstream host:port.
	addr string
	// scheme is the upstream scheme of a forward-proxied request; replicas
	// always speak plain HTTP.
	scheme string
	// h2c sends the request over HTTP/2 (transport http2): cleartext, or
	// over TLS with tls.
	h2c bool
	// tls sends the request over TLS, to an app that serves HTTPS on its
	// target port (targetPortHttpScheme: https).
	tls bool
	// pol is what the public edge's policies add to the request and its
	// response.
	pol policy
	// affinity, when set, is the replica a new sticky-session cookie pins
	// the client to.
	affinity string
	// w is the client's response, which promptBody flushes.
	w      http.ResponseWriter
	status int
	err    error
	// body is the client's chunked request body, whose read error a
	// transport's writer goroutine may record.
	body *clientBody
}

// bodyError is the error reading the client's request body gave, if any.
func (h *hop) bodyError() error {
	if h.body == nil {
		return nil
	}
	if p := h.body.err.Load(); p != nil {
		return *p
	}
	return nil
}

type hopKey struct{}

func hopFrom(ctx context.Context) *hop {
	h, _ := ctx.Value(hopKey{}).(*hop)
	return h
}

// errUpstreamTimeout marks an upstream that did not send response headers
// within the request timeout.
var errUpstreamTimeout = errors.New("upstream did not answer in time")

// clientGone is logged when the caller left before the upstream answered.
// It is nginx's code for that case; it never goes on the wire.
const clientGone = 499

// proxyToApp sends r to a ready replica of app: the one its sticky-session
// cookie names, else the one with the fewest outstanding requests (round
// robin among equals). target, when not 0, is an additional TCP port the
// caller named, which gets plain HTTP/1.1 and no sticky sessions, as in ACA.
func (e *Edge) proxyToApp(w http.ResponseWriter, r *http.Request, app *routing.App, pol policy, target int) {
	pol.secure = h1.TLS(r) != nil
	h := &hop{app: app.Name, pol: pol}
	in := app.Ingress
	sticky := in != nil && in.Sticky && target == 0
	var ep routing.Endpoint
	ok := false
	if sticky {
		ep, ok = stickyEndpoint(r, app)
	}
	if !ok {
		if ep, ok = app.PickLeastLoaded(); !ok {
			e.noReplica(w, r, app)
			return
		}
		if sticky {
			h.affinity = ep.Replica
		}
	}
	h.replica, h.addr = ep.Replica, ep.Addr
	if target != 0 && in != nil {
		if h.addr, ok = ep.AddrFor(target, in.TargetPort); !ok {
			e.reply(w, r, http.StatusBadGateway, fmt.Sprintf("replica %q of app %q has no port for target port %d", ep.Replica, app.Name, target))
			return
		}
	}
	done := ep.Begin()
	defer done()
	// Upgrades (WebSocket) are an HTTP/1.1 mechanism, so they keep to it.
	h.h2c = target == 0 && in != nil && in.Transport == routing.TransportHTTP2 && r.Header.Get("Upgrade") == ""
	h.tls = target == 0 && in != nil && in.TargetHTTPS
	e.serveProxy(e.appProxy, w, r, h)
}

// roundTripApp sends a request to a replica: plain HTTP/1.1 on the
// handler's goroutine unless its hop asks for HTTP/2 or TLS.
func (e *Edge) roundTripApp(req *http.Request) (*http.Response, error) {
	if h := hopFrom(req.Context()); h != nil && (h.h2c || h.tls) {
		return e.bounded.RoundTrip(req)
	}
	return e.replicas.RoundTrip(req)
}

// roundTrip sends an outbound request over the transport its hop asks for.
func (e *Edge) roundTrip(req *http.Request) (*http.Response, error) {
	h := hopFrom(req.Context())
	switch {
	case h == nil:
	case h.app == "":
		return e.forwardTransport.RoundTrip(req)
	case h.tls && h.h2c:
		return e.replicaH2.RoundTrip(req)
	case h.tls:
		return e.replicaTLS.RoundTrip(req)
	case h.h2c:
		return e.h2c.RoundTrip(req)
	}
	return e.transport.RoundTrip(req)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// forward sends r to the host it names, as an ordinary forward proxy.
func (e *Edge) forward(w http.ResponseWriter, r *http.Request, d decision) {
	scheme := r.URL.Scheme // set for absolute-form requests, the usual case through a proxy
	if scheme == "" {
		scheme = "http"
	}
	port := d.port
	switch {
	case scheme != "http" && scheme != "https":
		e.reply(w, r, http.StatusBadRequest, fmt.Sprintf("scheme %q cannot be proxied", scheme))
		return
	case port == "" && scheme == "https":
		port = "443"
	case port == "":
		port = "80"
	}
	e.serveProxy(e.fwdProxy, w, r, &hop{addr: net.JoinHostPort(d.host, port), scheme: scheme})
}

func (e *Edge) serveProxy(p *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request, h *hop) {
	start := time.Now()
	h.w = w
	ctx := context.WithValue(r.Context(), hopKey{}, h)
	// Deferred: the proxy aborts the handler with a panic when a streamed
	// response breaks half way, and that request deserves its line too.
	defer e.logRequest(ctx, r, h, start)
	if chunkedBody(r) {
		h.body = &clientBody{ReadCloser: r.Body}
		r.Body = h.body
		if !readChunked(r) {
			badBody(w, h)
			return
		}
	}
	p.ServeHTTP(w, r.WithContext(ctx))
}

// maxBufferedBody is how much of a chunked request body the edge reads
// before forwarding anything.
const maxBufferedBody = 64 << 10

// chunkedBody reports whether r is an HTTP/1.1 request with a chunked body
// that readChunked should take. HTTP/2 bodies stream (gRPC), and a client
// that sent Expect waits for the app's 100 Continue.
func chunkedBody(r *http.Request) bool {
	return r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 && r.Body != nil && r.Body != http.NoBody &&
		r.Header.Get("Expect") == ""
}

// readChunked reads r's chunked body, up to maxBufferedBody, before
// anything goes to the app, as nginx's request buffering does: a malformed
// one (a bad chunk size, a cut connection) is then refused whole rather
// than reaching the app truncated. A body read whole goes on with its
// length (and can be sent again on a new connection); a longer one streams
// on after the part read. It reports false when the body is malformed.
func readChunked(r *http.Request) bool {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil {
		return false
	}
	if n > maxBufferedBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(&buf, r.Body), r.Body}
		return true
	}
	r.Body.Close()
	data := buf.Bytes()
	r.TransferEncoding, r.ContentLength = nil, n
	r.Body, r.GetBody = http.NoBody, nil
	if n > 0 {
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		r.Body, _ = r.GetBody()
	}
	return true
}

// clientBody records the first read error of a request's body, so a
// malformed body is answered 400 rather than as the app's failure.
type clientBody struct {
	io.ReadCloser
	err atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// badBody answers a request whose body is malformed, and closes the
// connection: where the next request would start is unknown.
func badBody(w http.ResponseWriter, h *hop) {
	h.status = http.StatusBadRequest
	w.Header().Set("Connection", "close")
	http.Error(w, fmt.Sprintf("malformed request body: %v", h.bodyError()), h.status)
}

// rewriteToApp points the outbound request at the chosen replica.
func (e *Edge) rewriteToApp(pr *httputil.ProxyRequest) {
	h := hopFrom(pr.In.Context())
	if h == nil {
		return // not routed by this edge; the transport fails it as a 502
	}
	pr.Out.URL.Scheme = "http"
	if h.tls {
		pr.Out.URL.Scheme = "https"
	}
	pr.Out.URL.Host = h.addr
	// ACA's ingress keeps the Host the caller used; apps build absolute URLs
	// and check virtual hosts from it.
	pr.Out.Host = pr.In.Host
	// Append the caller to any chain it sent, and state the protocol and host
	// the edge saw, replacing whatever the caller claimed.
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	// Only the edge vouches for a client certificate; a caller's own
	// header is never passed on.
	pr.Out.Header.Del(xfccHeader)
	if h.pol.xfcc != "" {
		pr.Out.Header.Set(xfccHeader, h.pol.xfcc)
	}
}

// rewriteForward points the outbound request at the host it names. A forward
// proxy is transparent: the caller's forwarding headers pass unchanged and
// only Via records the hop.
func (e *Edge) rewriteForward(pr *httputil.ProxyRequest) {
	h := hopFrom(pr.In.Context())
	if h == nil {
		return
	}
	pr.Out.URL.Scheme = h.scheme
	pr.Out.URL.Host = h.addr
	pr.Out.Host = pr.In.Host
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
	pr.Out.Header.Add("Via", fmt.Sprintf("%d.%d %s", pr.In.ProtoMajor, pr.In.ProtoMinor, e.via))
}

// recordStatus notes the upstream's status for the log line, adds what
// the edge's policies put on responses (CORS headers and the sticky-session
// cookie) and makes a body of known length flush as it arrives.
func recordStatus(res *http.Response) error {
	h := hopFrom(res.Request.Context())
	if h == nil {
		return nil
	}
	h.status = res.StatusCode
	if h.w != nil && res.ContentLength > 0 && res.Body != nil && res.Body != http.NoBody {
		res.Body = newPromptBody(res.Body, h.w, res.ContentLength)
	}
	if h.pol.cors != nil {
		corsResponseHeaders(res.Header, h.pol.cors, h.pol.origin)
	}
	if h.affinity != "" {
		setAffinityCookie(res.Header, h.affinity, h.pol.secure)
	}
	return nil
}

// proxyError answers when the upstream could not be reached or was too slow.
func (e *Edge) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	h := hopFrom(r.Context())
	if h == nil {
		h = &hop{}
	}
	h.err = err
	who := "host " + h.addr
	if h.app != "" {
		who = fmt.Sprintf("app %q replica %q", h.app, h.replica)
	}
	switch {
	case errors.Is(err, errUpstreamTimeout), errors.Is(err, upstream.ErrResponseHeaderTimeout):
		h.status = http.StatusGatewayTimeout
		http.Error(w, fmt.Sprintf("%s did not answer within %s", who, e.timeout), h.status)
	case r.Context().Err() != nil:
		h.status = clientGone // nobody is left to answer
	case errors.Is(err, errLocalTarget):
		h.status = http.StatusForbidden
		http.Error(w, fmt.Sprintf("host %s is on this machine: %v", h.addr, errLocalTarget), h.status)
	case h.bodyError() != nil:
		// The client's body broke past what readChunked read first.
		badBody(w, h)
	default:
		h.status = http.StatusBadGateway
		msg := fmt.Sprintf("%s is unreachable: %v", who, err)
		if h.app == "" {
			msg += " (it is not an app of this environment)"
		}
		http.Error(w, msg, h.status)
	}
}

// logRequest writes the per-request debug line.
func (e *Edge) logRequest(ctx context.Context, r *http.Request, h *hop, start time.Time) {
	if !e.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.Int("status", h.status),
	}
	if h.app != "" {
		attrs = append(attrs, slog.String("app", h.app), slog.String("replica", h.replica))
	}
	if h.addr != "" {
		attrs = append(attrs, slog.String("upstream", h.addr))
	}
	if !start.IsZero() {
		attrs = append(attrs, slog.Duration("duration", time.Since(start)))
	}
	if h.err != nil {
		attrs = append(attrs, slog.String("error", h.err.Error()))
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, "edge request", attrs...)
}

// promptBody passes a body of known length on as it arrives, as nginx
// does: before a read that would wait for the upstream, what the client was
// written so far is flushed. The first read flushes the headers only when
// the body is known not to be there yet, so an answer that came whole goes
// out in one write at the end.
type promptBody struct {
	io.ReadCloser
	w http.ResponseWriter
	// ready is how much can be read without waiting; nil when the
	// transport cannot tell, and then only bytes already passed on are
	// flushed before a read.
	ready   func() int
	left    int64 // of the declared length, not yet read
	pending bool  // a read returned bytes since the last flush
	started bool
}

func newPromptBody(rc io.ReadCloser, w http.ResponseWriter, length int64) *promptBody {
	b := &promptBody{ReadCloser: rc, w: w, left: length}
	if r, ok := rc.(interface{ Buffered() int }); ok {
		b.ready = r.Buffered
	}
	return b
}

func (b *promptBody) Read(p []byte) (int, error) {
	if b.left > 0 {
		wait := b.pending && b.ready == nil
		if b.ready != nil && (b.pending || !b.started) {
			wait = b.ready() == 0
		}
		if wait {
			b.pending = false
			// A controller only when flushing: most answers never are.
			// A client that is gone fails the next write.
			_ = http.NewResponseController(b.w).Flush()
		}
	}
	b.started = true
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	b.pending = b.pending || n > 0
	return n, err
}

// timeoutTransport bounds the wait for an upstream's response headers. The
// body is not bounded: event streams and upgraded connections may run for as
// long as both sides want.
type timeoutTransport struct {
	base func(*http.Request) (*http.Response, error)
	d    time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The context lives on after a successful RoundTrip because the body is
	// read under it; it ends with the inbound request.
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.d, func() { cancel(errUpstreamTimeout) })
	res, err := t.base(req.WithContext(ctx))
	stopped := timer.Stop()
	if err != nil {
		if errors.Is(context.Cause(ctx), errUpstreamTimeout) {
			return nil, fmt.Errorf("no response headers after %s: %w", t.d, errUpstreamTimeout)
		}
		return nil, err
	}
	if !stopped {
		// The timer fired as the headers arrived; the context is cancelled
		// and the body unreadable, so the timeout wins.
		res.Body.Close()
		return nil, fmt.Errorf("no response headers after %s: %w", t.d, errUpstreamTimeout)
	}
	return res, nil
}

// bufferPool recycles the proxies' body copy buffers: without one,
// ReverseProxy allocates 32 KiB for every request it forwards. A channel
// rather than a sync.Pool, whose Put of a slice would allocate each time.
type bufferPool struct{ free chan []byte }

func newBufferPool() *bufferPool { return &bufferPool{free: make(chan []byte, 256)} }

func (b *bufferPool) Get() []byte {
	select {
	case buf := <-b.free:
		return buf
	default:
		return make([]byte, 32<<10)
	}
}

func (b *bufferPool) Put(buf []byte) {
	select {
	case b.free <- buf:
	default:
	}
}
