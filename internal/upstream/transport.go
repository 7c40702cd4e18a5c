// Package upstream is the HTTP/1.1 client transport cove uses to reach
// replicas: kept-alive connections to loopback servers, with each round trip
// run entirely on the caller's goroutine.
//
// net/http's Transport hands every request to a writer goroutine and every
// response back from a reader goroutine per connection. Those hand-offs are
// what make a proxied request cost two or three goroutine wake-ups, which on
// a small machine shared with the apps is most of a proxy's latency. Here
// the caller writes the request and reads the response itself; framing
// (request writing, response parsing, chunked bodies, trailers) is
// net/http's own, through Request.Write and http.ReadResponse.
//
// What needs the concurrency of net/http's Transport is handed to Fallback:
// protocol upgrades, "Expect: 100-continue", request bodies of unknown
// length (which may stream while the response does) and non-HTTP schemes.
package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of a zero Transport.
const (
	DefaultMaxIdlePerHost = 256
	DefaultIdleTimeout    = 90 * time.Second
	// DefaultMaxHeaderBytes bounds a response's status line and headers.
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultMaxBody is the largest request body sent on the caller's
	// goroutine; larger ones go to Fallback, which can read the response
	// while still sending.
	DefaultMaxBody = 1 << 20
	bufferSize     = 16 << 10
	// earlyAnswerWait is how long a request whose body could not be
	// written waits for an answer the server may have sent before closing.
	earlyAnswerWait = 250 * time.Millisecond
)

var (
	// ErrHeaderTooLarge is returned when a response's headers exceed
	// MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("upstream: response headers too large")
	// ErrResponseHeaderTimeout is returned when a server sent no complete
	// response headers within ResponseHeaderTimeout.
	ErrResponseHeaderTimeout = errors.New("upstream: no response headers in time")
)

// Transport is an http.RoundTripper for plain HTTP/1.1 upstreams. The zero
// value is usable once Fallback is set; fields must not change after the
// first RoundTrip.
type Transport struct {
	// Dial opens connections; nil uses a net.Dialer with a 5 s timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Fallback serves the requests this transport leaves to net/http (see
	// the package documentation). Required.
	Fallback http.RoundTripper
	// MaxIdlePerHost caps the kept-alive connections per host:port.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer.
	IdleTimeout time.Duration
	// ResponseHeaderTimeout bounds writing the request and waiting for the
	// response's headers; 0 means no bound. It is a deadline on the
	// connection, which costs no timer or goroutine of its own.
	ResponseHeaderTimeout time.Duration
	MaxHeaderBytes        int64
	MaxBody               int64

	mu        sync.Mutex
	idle      map[string][]*conn // per host:port, most recently used last
	lastSweep time.Time
	closed    bool
}

// conn is one kept-alive connection with its buffers.
type conn struct {
	t         *Transport
	addr      string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	// headerLeft is what a response's header may still read while
	// limiting; negative when not limiting (reading a body).
	headerLeft int64
	reused     bool
}

// Read is the bufio.Reader's source: the connection, bounded while a
// response's headers are read.
func (c *conn) Read(p []byte) (int, error) {
	if c.headerLeft == 0 {
		return 0, ErrHeaderTooLarge
	}
	if c.headerLeft > 0 && int64(len(p)) > c.headerLeft {
		p = p[:c.headerLeft]
	}
	n, err := c.nc.Read(p)
	if c.headerLeft > 0 {
		c.headerLeft -= int64(n)
	}
	return n, err
}

// handles reports whether req can be sent on the caller's goroutine.
func (t *Transport) handles(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method == http.MethodConnect {
		return false
	}
	if req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	return req.ContentLength >= 0 && req.ContentLength <= t.maxBody()
}

// RoundTrip sends req and returns its response. A request on a kept-alive
// connection the server had already closed is sent again on a newly dialled
// one when that is safe: it can be replayed and either is idempotent or the
// connection was checked to be open before it was written. The second try
// never takes another kept-alive connection: when a server restarts, every
// one pooled to it may be dead.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		if t.Fallback == nil {
			return nil, errors.New("upstream: request needs a fallback transport and none is set")
		}
		return t.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	addr := canonicalAddr(req)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			closeBody(req)
			return nil, err
		}
		c, err := t.get(ctx, addr, !idempotent(req), attempt > 0)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		res, state, err := c.roundTrip(req)
		if err == nil {
			return res, nil
		}
		// A kept-alive connection the server had closed fails the write, or
		// the read with not a byte of answer. Only a failed write proves the
		// request never arrived; after a written one, only idempotent
		// requests are sent again.
		retry := state == notWritten || (state == noAnswer && idempotent(req))
		if attempt == 0 && c.reused && retry && replayable(req) {
			if req, err = rewind(req); err == nil {
				continue
			}
		}
		closeBody(req)
		return nil, err
	}
}

// How far a failed round trip got, which decides whether it may be sent
// again (see RoundTrip).
type progress int

const (
	notWritten progress = iota // the request could not be written
	noAnswer                   // written; no byte of an answer came
	answered                   // the server began answering
)

// roundTrip writes req and reads its response.
func (c *conn) roundTrip(req *http.Request) (res *http.Response, state progress, err error) {
	ctx := req.Context()
	// A cancelled request unblocks whatever this goroutine waits on; the
	// connection is then unusable and is closed.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, progress, error) {
		stop()
		c.nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			err = fmt.Errorf("%w after %s", ErrResponseHeaderTimeout, c.t.ResponseHeaderTimeout)
		}
		return nil, state, err
	}
	// The timeout bounds writing the request too: a server that neither
	// reads the body nor closes would hold the write forever.
	if d := c.t.ResponseHeaderTimeout; d > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(d))
	}
	writeErr := req.Write(c.bw)
	if writeErr == nil {
		writeErr = c.bw.Flush()
	}
	switch {
	case writeErr == nil:
		state = noAnswer
	default:
		// A server may answer before it has read the whole body (413, 401)
		// and close; that answer, if it came, is the one to pass on.
		_ = c.nc.SetReadDeadline(time.Now().Add(earlyAnswerWait))
	}
	c.headerLeft = c.t.maxHeaderBytes()
	for {
		if _, err := c.br.Peek(1); err != nil {
			if writeErr != nil {
				return fail(writeErr)
			}
			return fail(err)
		}
		state = answered
		res, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		// 1xx answers other than 101 precede the final one; the caller's
		// trace gets them (a reverse proxy passes them on).
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.Got1xxResponse != nil {
			if err := tr.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				return fail(err)
			}
		}
		c.headerLeft = c.t.maxHeaderBytes()
	}
	c.headerLeft = -1
	if c.t.ResponseHeaderTimeout > 0 || writeErr != nil {
		_ = c.nc.SetDeadline(time.Time{})
	}
	keep := writeErr == nil && !res.Close && !req.Close && res.StatusCode != http.StatusSwitchingProtocols
	if res.Body == http.NoBody || res.Body == nil {
		c.release(stop, keep)
		return res, state, nil
	}
	res.Body = &body{c: c, rc: res.Body, stop: stop, keep: keep}
	return res, state, nil
}

// release ends a round trip: the connection goes back to the pool when it
// is reusable and the request's context did not interrupt it.
func (c *conn) release(stop func() bool, keep bool) {
	if !stop() || !keep {
		c.nc.Close()
		return
	}
	c.t.put(c)
}

// body is a response body that returns its connection to the pool once
// read to the end.
type body struct {
	c    *conn
	rc   io.ReadCloser
	stop func() bool
	keep bool
	// done is set by whichever of Read (at the end or on an error) and
	// Close finishes the body first; that one releases the connection.
	done atomic.Bool
	// eof keeps later Reads answering io.EOF once the end was read.
	eof atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done.Load() {
		if b.eof.Load() {
			return 0, io.EOF
		}
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	if err != nil && b.done.CompareAndSwap(false, true) {
		b.c.release(b.stop, b.keep && err == io.EOF)
	}
	return n, err
}

// Buffered is how much of the body can be read without waiting for the
// server: what was read off the connection past the headers (chunk framing
// included). 0 once the body is done, when the connection may serve
// another request.
func (b *body) Buffered() int {
	if b.done.Load() {
		return 0
	}
	return b.c.br.Buffered()
}

// Close before the end closes the connection rather than draining a body
// that may never end; a Read blocked on another goroutine returns.
func (b *body) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.c.release(b.stop, false)
	}
	return nil
}

var (
	errBodyClosed = errors.New("upstream: read on closed response body")
	aLongTimeAgo  = time.Unix(1, 0)
)

// get returns a kept-alive connection to addr, else a new one. check asks
// that a kept-alive one be verified open first (see alive); fresh skips the
// pool.
func (t *Transport) get(ctx context.Context, addr string, check, fresh bool) (*conn, error) {
	for !fresh {
		c := t.takeIdle(addr)
		if c == nil {
			break
		}
		if check && !alive(c.nc) {
			c.nc.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	dial := t.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{t: t, addr: addr, nc: nc, bw: bufio.NewWriterSize(nc, bufferSize), headerLeft: -1}
	c.br = bufio.NewReaderSize(c, bufferSize)
	return c, nil
}

func (t *Transport) takeIdle(addr string) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	t.idle[addr] = list[:len(list)-1]
	if time.Since(c.idleSince) > t.idleTimeout() {
		// The most recently used is too old, so are the rest.
		for _, old := range t.idle[addr] {
			old.nc.Close()
		}
		delete(t.idle, addr)
		c.nc.Close()
		return nil
	}
	return c
}

func (t *Transport) put(c *conn) {
	now := time.Now()
	c.idleSince = now
	t.mu.Lock()
	if t.closed || len(t.idle[c.addr]) >= t.maxIdlePerHost() {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	var stale []*conn
	if now.Sub(t.lastSweep) > t.idleTimeout()/2 {
		t.lastSweep = now
		stale = t.sweepLocked(now)
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
}

// sweepLocked removes the connections idle past the timeout, so pools of
// replicas that are gone do not keep sockets open.
func (t *Transport) sweepLocked(now time.Time) []*conn {
	var stale []*conn
	for addr, list := range t.idle {
		keep := list[:0]
		for _, c := range list {
			if now.Sub(c.idleSince) > t.idleTimeout() {
				stale = append(stale, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = keep
		}
	}
	return stale
}

// CloseIdleTo closes the kept-alive connections to addr (host:port), as
// when the server there has exited: a server started again on the same
// port must not be sent requests on connections the old one held.
func (t *Transport) CloseIdleTo(addr string) {
	t.mu.Lock()
	list := t.idle[addr]
	delete(t.idle, addr)
	t.mu.Unlock()
	for _, c := range list {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every kept-alive connection, and those of
// Fallback.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	if ci, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// alive reports whether a kept-alive connection is still open: nothing has
// arrived on it, not even the server's FIN. It costs one non-blocking
// system call, so it is spent only on requests that must not be sent twice.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is idle and open.
		ok = n < 0 && errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && ok
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, hasKey := req.Header["Idempotency-Key"]
	_, hasXKey := req.Header["X-Idempotency-Key"]
	return hasKey || hasXKey
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns req with a fresh body for a second attempt.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := *req
	r.Body = b
	return &r, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// canonicalAddr is the request's host:port, port 80 when it names none.
func canonicalAddr(req *http.Request) string {
	host := req.URL.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		return net.JoinHostPort(host, "80")
	}
	return host
}

func (t *Transport) maxIdlePerHost() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return DefaultMaxIdlePerHost
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxHeaderBytes > 0 {
		return t.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (t *Transport) maxBody() int64 {
	if t.MaxBody > 0 {
		return t.MaxBody
	}
	return DefaultMaxBody
}
