package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/upstream"
)

// Resolver finds one ready replica of an app. It is defined here, where it
// is consumed; the sidecar supplies one backed by the environment's routing
// table.
type Resolver interface {
	// Resolve returns a ready replica of appID (a bare id, without a
	// namespace). Unknown ids wrap ErrAppNotFound; an app without a ready
	// replica wraps ErrNoReadyReplica.
	Resolve(ctx context.Context, appID string) (Target, error)
}

// Target is one ready replica of an app.
type Target struct {
	AppID string
	// Addr is host:port of the replica's app port.
	Addr string
	// Protocol is the app's Dapr appProtocol, ProtocolHTTP or ProtocolGRPC;
	// empty means ProtocolHTTP.
	Protocol string
	// Done, when set, is called once the call to this replica is over: its
	// answer read and closed, or the attempt given up. A resolver counts
	// the call as in flight until then, so that a replica being retired is
	// not stopped under it.
	Done func()
	// Refused, when set, is called when the replica refused the
	// connection: a resolver that remembers replicas forgets this one
	// before the call is retried.
	Refused func()
}

// finish reports the call to the target over (see Target.Done).
func (t Target) finish() {
	if t.Done != nil {
		t.Done()
	}
}

// refused reports a refused connection to the target's resolver.
func (t Target) refused() {
	if t.Refused != nil {
		t.Refused()
	}
}

// App protocols an Invoker can call.
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
)

// Errors a Resolver wraps. The text of ErrAppNotFound is what daprd's name
// resolution reports, so callers see the same message as under Dapr.
var (
	ErrAppNotFound    = errors.New("couldn't find service")
	ErrNoReadyReplica = errors.New("no ready replica")
)

// Request is one invocation. Invoke takes ownership of Header (it rewrites
// hop-by-hop and identity headers in place, which saves a copy per call)
// and of Body.
type Request struct {
	// AppID is the target app id, optionally qualified as "app.namespace".
	AppID string
	// Method is the HTTP verb.
	Method string
	// Path is the path on the target app, e.g. "/orders/1"; a missing
	// leading slash is added.
	Path string
	// Query is the raw query string, without '?'.
	Query  string
	Header http.Header
	// Body may be nil. It is streamed, never buffered.
	Body io.ReadCloser
	// ContentLength follows http.Request: -1 (or 0 with a non-nil Body
	// other than http.NoBody) means unknown, and the body is sent chunked.
	ContentLength int64
	// CallerAppID is the invoking app's id, sent as dapr-caller-app-id.
	CallerAppID string
}

// Response is the target app's answer. The caller must close Body.
type Response struct {
	Status        int
	Header        http.Header
	Body          io.ReadCloser
	ContentLength int64
}

// Options tune an Invoker.
type Options struct {
	// Namespace is the environment's namespace; "app.<Namespace>" ids
	// resolve like "app". Default "default".
	Namespace string
	// Transport carries the calls. Default NewTransport(). Share one per
	// process so connections are pooled across sidecars.
	Transport http.RoundTripper
	// MaxAttempts bounds the tries when a replica refuses the connection
	// (it may have just stopped while the routing table still lists it);
	// each retry resolves again so round robin picks another replica.
	// Default 3; 1 disables retries.
	MaxAttempts int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MaxMessageSize bounds each gRPC message sent to or received from an
	// app, as daprd's max request size bounds its gRPC app channel.
	// Default 4 MiB, Dapr's default.
	MaxMessageSize int
	// GRPCIdleTimeout is how long a client connection to an app's gRPC
	// server stays open unused before it is closed. Default 2 minutes.
	GRPCIdleTimeout time.Duration
	// ReplayLimit bounds the request bodies kept for resiliency retries
	// (see policies.go). Default DefaultReplayLimit.
	ReplayLimit int64
}

// Invoker forwards invocations to app replicas. It is safe for concurrent
// use by many sidecars.
type Invoker struct {
	resolver    Resolver
	transport   http.RoundTripper
	namespace   string
	maxAttempts int
	maxMsgSize  int
	log         *slog.Logger
	conns       *connPool
	replayLimit int64
	policies    atomic.Pointer[Policies]
}

// New returns an Invoker resolving through r.
func New(r Resolver, opts Options) *Invoker {
	i := &Invoker{
		resolver:    r,
		transport:   opts.Transport,
		namespace:   opts.Namespace,
		maxAttempts: opts.MaxAttempts,
		log:         opts.Logger,
	}
	if i.transport == nil {
		i.transport = NewTransport()
	}
	if i.namespace == "" {
		i.namespace = "default"
	}
	if i.maxAttempts <= 0 {
		i.maxAttempts = 3
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	i.maxMsgSize = opts.MaxMessageSize
	if i.maxMsgSize <= 0 {
		i.maxMsgSize = DefaultMaxMessageSize
	}
	idle := opts.GRPCIdleTimeout
	if idle <= 0 {
		idle = 2 * time.Minute
	}
	i.conns = newConnPool(idle, i.log)
	i.replayLimit = opts.ReplayLimit
	if i.replayLimit <= 0 {
		i.replayLimit = DefaultReplayLimit
	}
	return i
}

// DefaultMaxMessageSize is daprd's default bound on a gRPC message.
const DefaultMaxMessageSize = 4 << 20

// Close closes the pooled connections to apps' gRPC servers. Calls made
// afterwards still work over fresh connections, closed when idle.
func (i *Invoker) Close() error {
	i.conns.closeAll()
	return nil
}

// ReplicaExited closes the transport's kept-alive connections to a replica's
// addresses (host:port) once its process has exited, so a process started
// again on the same port is not called on the old one's connections. A
// transport that cannot close them per address is left as it is.
func (i *Invoker) ReplicaExited(addrs ...string) {
	t, ok := i.transport.(interface{ CloseIdleTo(addr string) })
	if !ok {
		return
	}
	for _, a := range addrs {
		t.CloseIdleTo(a)
	}
}

// ResponseHeaderTimeout bounds how long the transport from NewTransport
// waits for an app to start answering: ACA's ingress request timeout, so a
// call that would time out on Azure does not hang forever here.
const ResponseHeaderTimeout = 240 * time.Second

// NewTransport returns the transport tuned for sidecar-to-app traffic:
// kept-alive connections with each call written and answered on the
// caller's goroutine (package upstream), an idle pool large enough for load
// tests, no proxy (replicas get HTTP_PROXY, the cove process must not follow
// it) and no transparent compression (bodies and Content-Encoding pass
// through as the app sent them).
func NewTransport() http.RoundTripper {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	fallback := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        32 << 10,
		ReadBufferSize:         32 << 10,
	}
	return &upstream.Transport{
		Dial:                  d.DialContext,
		Fallback:              fallback,
		MaxIdlePerHost:        1024,
		IdleTimeout:           90 * time.Second,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		MaxHeaderBytes:        1 << 20,
	}
}

// Invoke forwards req to a ready replica of req.AppID and returns its
// response, whatever its status. A replica speaking gRPC is called through
// its AppCallback/OnInvoke and its answer translated back, as daprd does
// for HTTP callers. Errors are *daprerr.Error with code ERR_DIRECT_INVOKE
// and Dapr's message shape; they wrap the cause, so
// errors.Is(err, ErrAppNotFound) works.
func (i *Invoker) Invoke(ctx context.Context, req *Request) (*Response, error) {
	appID, err := i.bareAppID(req.AppID)
	if err != nil {
		closeBody(req.Body)
		return nil, invokeError(req.AppID, err)
	}
	if req.Header == nil {
		req.Header = make(http.Header, 3)
	}
	prepareRequestHeader(req.Header, req.CallerAppID, appID, i.namespace)
	req.Path = resolveDots(req.Path)
	return i.applyPolicies(ctx, req, appID, i.invokeTarget)
}

// resolveDots removes the "." and ".." segments of p as a URL resolver does
// (RFC 3986, 5.2.4) and leaves the rest as it is: repeated and trailing
// slashes may matter to the app's routes, but a ".." must not take a call
// past the path access control checked (which cleans it whole).
func resolveDots(p string) string {
	if !hasDotSegment(p) {
		return p
	}
	segs := strings.Split(p, "/")
	keep := 0 // segments ".." may not remove: the root's empty one
	if strings.HasPrefix(p, "/") {
		keep = 1
	}
	out := make([]string, 0, len(segs))
	for n, seg := range segs {
		last := n == len(segs)-1
		switch seg {
		case ".":
		case "..":
			if len(out) > keep {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
			continue
		}
		if last { // "a/b/.." is the directory "a/"
			out = append(out, "")
		}
	}
	return strings.Join(out, "/")
}

func hasDotSegment(p string) bool {
	for p != "" {
		seg, rest, _ := strings.Cut(p, "/")
		if seg == "." || seg == ".." {
			return true
		}
		p = rest
	}
	return false
}

// invokeTarget makes one attempt at an invocation: it resolves appID to a
// replica and calls it.
func (i *Invoker) invokeTarget(ctx context.Context, req *Request, appID string) (*Response, error) {
	target, err := i.resolver.Resolve(ctx, appID)
	if err != nil {
		closeBody(req.Body)
		return nil, invokeError(req.AppID, err)
	}
	if target.Protocol == ProtocolGRPC {
		// The answer is read whole before it is returned.
		defer target.finish()
		return i.invokeGRPCApp(ctx, req, target)
	}
	return i.roundTrip(ctx, req, appID, target)
}

// roundTrip sends req over HTTP, first to target; a refused connection is
// retried on another replica. The call to a target is over (Target.Done)
// when its attempt fails or the answer's body is closed.
func (i *Invoker) roundTrip(ctx context.Context, req *Request, appID string, target Target) (*Response, error) {
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	var guard *replayGuard
	if body != nil && i.maxAttempts > 1 {
		guard = &replayGuard{rc: body}
		body = guard
	}
	path := req.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}

	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			target.finish()
			var err error
			if target, err = i.resolver.Resolve(ctx, appID); err != nil {
				closeBody(req.Body)
				return nil, invokeError(req.AppID, err)
			}
		}
		out := (&http.Request{
			Method:        req.Method,
			URL:           &url.URL{Scheme: "http", Host: target.Addr, Path: path, RawQuery: req.Query},
			Header:        req.Header,
			Body:          body,
			ContentLength: req.ContentLength,
			Host:          target.Addr,
		}).WithContext(ctx)
		if body == nil {
			out.ContentLength = 0
		}
		if guard != nil {
			guard.arm()
		}
		resp, err := i.transport.RoundTrip(out)
		if err == nil {
			if guard != nil {
				guard.release()
			}
			stripHopByHop(resp.Header)
			respBody := resp.Body
			if target.Done != nil {
				respBody = &onClose{ReadCloser: respBody, fn: target.Done}
			}
			return &Response{
				Status:        resp.StatusCode,
				Header:        resp.Header,
				Body:          respBody,
				ContentLength: resp.ContentLength,
			}, nil
		}
		// A reset before any answer to a request that has no body and may be
		// repeated (a replica dying as it accepted the connection) is as good
		// as refused: the replica is going away, another one can answer.
		wasRefused := refused(err) || (body == nil && idempotent(req.Method) && reset(err))
		if wasRefused {
			target.refused()
		}
		if attempt < i.maxAttempts && ctx.Err() == nil && wasRefused && (guard == nil || !guard.touched()) {
			i.log.DebugContext(ctx, "replica refused or reset the connection, retrying",
				slog.String("app", appID), slog.String("addr", target.Addr), slog.Int("attempt", attempt))
			continue
		}
		target.finish()
		closeBody(req.Body)
		return nil, invokeError(req.AppID, err)
	}
}

// bareAppID strips a ".namespace" qualifier; only this environment's
// namespace exists.
func (i *Invoker) bareAppID(id string) (string, error) {
	if id == "" {
		return "", errors.New("app id is empty")
	}
	app, ns, qualified := strings.Cut(id, ".")
	if !qualified {
		return id, nil
	}
	if strings.Contains(ns, ".") {
		return "", fmt.Errorf("invalid app id %s", id)
	}
	if ns != i.namespace {
		return "", fmt.Errorf("%w: %s in namespace %s", ErrAppNotFound, app, ns)
	}
	return app, nil
}

func invokeError(id string, cause error) *daprerr.Error {
	return &daprerr.Error{
		Kind:    daprerr.DirectInvoke,
		Message: fmt.Sprintf("failed to invoke, id: %s, err: %v", id, cause),
		Cause:   cause,
	}
}

// refused reports a failure to connect: nothing was sent, so another
// replica may be tried.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// reset reports a connection the other end closed before it answered.
func reset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// idempotent reports a method RFC 9110 lets a client repeat.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}

// Identity headers Dapr adds to every invocation, in canonical form.
const (
	HeaderCallerAppID     = "Dapr-Caller-App-Id"
	HeaderCalleeAppID     = "Dapr-Callee-App-Id"
	HeaderCallerNamespace = "Dapr-Caller-Namespace"
	// HeaderAppID selects the target in the header form of invocation; it
	// is not forwarded.
	HeaderAppID = "Dapr-App-Id"
)

// prepareRequestHeader drops what must not reach the app and stamps the
// identity headers; caller-supplied identity headers are replaced so an
// app cannot spoof another's id.
func prepareRequestHeader(h http.Header, caller, callee, namespace string) {
	stripHopByHop(h)
	delete(h, HeaderAppID)
	if _, ok := h["User-Agent"]; !ok {
		// An empty value keeps the transport from adding its own.
		h["User-Agent"] = noUserAgent
	}
	h[HeaderCallerAppID] = []string{caller}
	h[HeaderCalleeAppID] = []string{callee}
	h[HeaderCallerNamespace] = []string{namespace}
}

// stripHopByHop removes the headers RFC 9110 section 7.6.1 says a proxy
// must not forward, including those the Connection header nominates.
func stripHopByHop(h http.Header) {
	if conn, ok := h["Connection"]; ok {
		for _, v := range conn {
			for tok := range strings.SplitSeq(v, ",") {
				if tok = strings.TrimSpace(tok); tok != "" {
					delete(h, textproto.CanonicalMIMEHeaderKey(tok))
				}
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// noUserAgent is shared read-only by every request that has none.
var noUserAgent = []string{""}

var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade",
	"Http2-Settings", "Te", "Trailer", "Proxy-Authorization", "Proxy-Authenticate",
}

// replayGuard lets a request body be offered to another replica after a
// refused connection. The transport closes a body on every failed attempt;
// while armed and unread, that close is held back so the next attempt can
// still send it. Once a byte has been asked for, replay is impossible and
// closes go through.
type replayGuard struct {
	rc   io.ReadCloser
	read atomic.Bool

	mu     sync.Mutex
	armed  bool // an attempt is in flight and may still be retried
	held   bool // Close arrived while armed
	closed bool
}

func (g *replayGuard) Read(p []byte) (int, error) {
	g.read.Store(true)
	return g.rc.Read(p)
}

func (g *replayGuard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.armed && !g.read.Load() {
		g.held = true
		return nil
	}
	return g.closeLocked()
}

func (g *replayGuard) closeLocked() error {
	if g.closed {
		return nil
	}
	g.closed = true
	return g.rc.Close()
}

// arm starts an attempt.
func (g *replayGuard) arm() {
	g.mu.Lock()
	g.armed, g.held = true, false
	g.mu.Unlock()
}

// release ends retrying after a successful round trip: a close the
// transport made meanwhile is carried out now, later ones go through.
func (g *replayGuard) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed = false
	if g.held {
		_ = g.closeLocked()
	}
}

func (g *replayGuard) touched() bool { return g.read.Load() }
