package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

const (
	// readBufferSize bounds the header block a connection serves itself;
	// a larger one goes to the Fallback, which applies MaxHeaderBytes.
	readBufferSize  = 4 << 10
	writeBufferSize = 4 << 10
	// watchAfter is how long a request runs before its connection is
	// watched for a client that left, which cancels the request's context.
	watchAfter = 250 * time.Millisecond
	// maxDiscard is how much of a request body the handler left unread is
	// read and dropped to keep the connection (net/http's limit too).
	maxDiscard = 256 << 10
	// rstAvoidanceDelay is how long a connection closed with unread input
	// waits after its half-close (net/http's value).
	rstAvoidanceDelay = 500 * time.Millisecond
	// deadlineSlack lets an idle deadline stand while it is this close to
	// the one wanted, which saves moving it on every request.
	deadlineSlack = time.Second
)

// Connection states, for Shutdown: an idle connection waits for a request
// and may be closed; an active one finishes its request first.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// Watch states of the request being served.
const (
	watchOff      = iota // no request, or the handler returned
	watchArmed           // the timer runs
	watchDue             // the timer fired before the body was read
	watchWatching        // a read waits for the client to leave
)

var aLongTimeAgo = time.Unix(1, 0)

type conn struct {
	srv *Server
	nc  net.Conn
	// tlsConfig, when set, makes the connection TLS: the handshake comes
	// first, and tlsState is its outcome.
	tlsConfig *tls.Config
	tlsState  *tls.ConnectionState
	remote    string
	ctx       context.Context // ends when the connection closes or the client leaves
	cancel    context.CancelFunc
	cr        connReader
	br        *bufio.Reader
	bw        *bufio.Writer
	state     atomic.Int32
	// deadline is the read deadline last set; zero for none.
	deadline time.Time

	// gone is set by the watch when the client closed its side.
	gone  atomic.Bool
	timer *time.Timer

	mu        sync.Mutex // guards what the watch shares with the handler
	watch     int
	bodyDone  bool
	watchDone chan struct{}
	// started is when the running request began; timerSet says the timer
	// is due to fire. The timer is not reset for every request: when it
	// fires during a request younger than watchAfter, it sets itself again
	// for the rest, so a busy connection fires it at most every watchAfter.
	started  time.Time
	timerSet bool

	afterPost bool // the last request was a POST
	served    bool // a request was read
	unread    bool // the connection closes with input left unread
	// large holds a header block too large for br, read out of it to be
	// checked; it goes to the Fallback ahead of what br still holds.
	large []byte

	pending []byte   // a body the handler wrote before it finished, up to writeBufferSize/2
	scratch []byte   // the header block of the answer being written
	keys    []string // the header's names, to sort
}

func newConn(s *Server, base context.Context, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String()}
	ctx := context.WithValue(base, http.LocalAddrContextKey, nc.LocalAddr())
	if s.Fallback.ConnContext != nil {
		if ctx = s.Fallback.ConnContext(ctx, nc); ctx == nil {
			panic("h1: ConnContext returned nil")
		}
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.cr.nc = nc
	c.br = bufio.NewReaderSize(&c.cr, readBufferSize)
	c.bw = bufio.NewWriterSize(nc, writeBufferSize)
	c.timer = time.AfterFunc(time.Hour, c.watchFired)
	c.timer.Stop()
	return c
}

// connReader reads the connection, first the byte a watch read, if any.
type connReader struct {
	nc      net.Conn
	held    byte
	holding bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.holding && len(p) > 0 {
		p[0], r.holding = r.held, false
		return 1, nil
	}
	return r.nc.Read(p)
}

func (c *conn) serve() {
	defer c.close()
	if c.tlsConfig != nil && !c.handshake() {
		return
	}
	for {
		// Like net/http, a kept-alive connection that ends with less than
		// 4 bytes closes without an answer.
		n := 1
		if c.served {
			n = 4
		}
		if c.br.Buffered() < n {
			if c.srv.closing.Load() && c.br.Buffered() == 0 {
				return
			}
			c.idleDeadline(time.Now())
			if _, err := c.br.Peek(n); err != nil {
				return
			}
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // Shutdown closed it
		}
		h, err := c.readHead()
		if err != nil {
			return
		}
		if h.ambiguous {
			// Two framings for one body is how requests are smuggled past
			// a proxy that reads the other one. net/http would forward
			// the body as chunked; Envoy, ACA's ingress, and nginx refuse
			// the request and close, and so does this server, even for a
			// request it would hand over.
			c.replyStatus(http.StatusBadRequest, "400 Bad Request: Content-Length and Transfer-Encoding in one request")
			c.unread = true
			return
		}
		if h.parseErr != nil {
			c.unread = c.replyError(h.parseErr)
			return
		}
		if h.tooLarge {
			c.replyStatus(http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
			c.unread = true
			return
		}
		if !h.ours {
			c.handOff()
			return
		}
		c.served = true
		if !c.serveRequest(h) || !c.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

// handshake runs the TLS handshake within the read-header timeout and
// reports whether this server goes on with the connection: h2, chosen by
// ALPN, goes to the Fallback as the TLS connection it is.
func (c *conn) handshake() bool {
	tc := tls.Server(c.nc, c.tlsConfig)
	d := c.srv.Fallback.ReadHeaderTimeout
	if d <= 0 {
		d = c.srv.Fallback.ReadTimeout
	}
	if d > 0 {
		_ = tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		// A client that does not trust the CA, or a port scan: net/http
		// logs these too.
		c.srv.logf("h1: TLS handshake error from %s: %v", c.remote, err)
		return false
	}
	_ = tc.SetDeadline(time.Time{})
	c.nc, c.cr.nc = tc, tc
	c.br.Reset(&c.cr)
	c.bw.Reset(tc)
	st := tc.ConnectionState()
	c.tlsState = &st
	if st.NegotiatedProtocol == "h2" {
		c.srv.forget(c)
		c.nc = nil // close must leave it open
		if h := c.srv.handoff; h == nil || !h.Deliver(tc) {
			tc.Close()
		}
		return false
	}
	return true
}

// idleDeadline bounds the wait for the next request.
func (c *conn) idleDeadline(now time.Time) {
	d := c.srv.Fallback.IdleTimeout
	if d <= 0 {
		d = c.srv.Fallback.ReadTimeout
	}
	if d <= 0 {
		c.setDeadline(time.Time{})
		return
	}
	want := now.Add(d)
	if c.deadline.IsZero() || want.Sub(c.deadline) > deadlineSlack || want.Before(c.deadline) {
		c.setDeadline(want)
	}
}

func (c *conn) setDeadline(t time.Time) {
	if t.Equal(c.deadline) {
		return
	}
	c.deadline = t
	_ = c.nc.SetReadDeadline(t)
}

// readHead buffers the whole header block of the next request and reads
// what it tells; not ours: hand the connection over.
func (c *conn) readHead() (head, error) {
	headerDeadline := false
	wait := func() {
		if headerDeadline {
			return
		}
		headerDeadline = true
		d := c.srv.Fallback.ReadHeaderTimeout
		if d <= 0 {
			d = c.srv.Fallback.ReadTimeout
		}
		if d > 0 {
			c.setDeadline(time.Now().Add(d))
		}
	}
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		// Old clients end a POST body with a stray line break; net/http
		// tolerates it there and nowhere else.
		if c.afterPost {
			if n := leadingBlank(buf); n > 0 {
				_, _ = c.br.Discard(n)
				buf = buf[n:]
			}
		}
		if end := headEnd(buf); end > 0 {
			h := scanHead(buf[:end])
			if h.malformed {
				// net/http answers such a head only once it has read the 24
				// bytes of an h2c preface, or after ReadHeaderTimeout.
				if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:end]))); err != nil {
					h.parseErr = err
				}
			}
			return h, nil
		}
		if c.br.Buffered() == c.br.Size() {
			return c.readLargeHead(wait) // too large for us: the Fallback's
		}
		wait()
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if err == io.EOF && len(buf) > 0 {
				// The client half-closed mid-header: http.ReadRequest
				// finds what is wrong, and net/http answers that.
				return head{ours: true}, nil
			}
			return head{}, err
		}
	}
}

// readLargeHead reads on, out of br into c.large, a header block larger
// than br, which the Fallback serves, so that an ambiguous one is refused
// whatever its size, and one past the limit (MaxHeaderBytes plus
// HeaderAllowance) by exactly a byte too: net/http counts the bytes it
// reads, which a peek for an h2c preface shifts. It stops at the limit or
// at the end of input.
func (c *conn) readLargeHead(wait func()) (head, error) {
	limit := c.srv.Fallback.MaxHeaderBytes
	if limit <= 0 {
		limit = http.DefaultMaxHeaderBytes
	}
	limit += HeaderAllowance
	lineEnd := -1 // of the request line, once read
	for len(c.large) < limit {
		// Each pass looks only at what it added, and at the two bytes
		// before, over which a line break may straddle two reads.
		from := max(0, len(c.large)-2)
		buf, _ := c.br.Peek(c.br.Buffered())
		c.large = append(c.large, buf...)
		_, _ = c.br.Discard(len(buf))
		if lineEnd < 0 {
			if i := bytes.IndexByte(c.large[from:], '\n'); i >= 0 {
				lineEnd = from + i
				if !isRequestLine(c.large[:lineEnd]) {
					return head{}, nil // not HTTP/1: nothing to check
				}
			}
		}
		if end := headEnd(c.large[from:]); end > 0 {
			if from+end > limit {
				return head{tooLarge: true}, nil
			}
			return head{ambiguous: scanHead(c.large[:from+end]).ambiguous}, nil
		}
		wait()
		if _, err := c.br.Peek(1); err != nil {
			if err == io.EOF {
				return head{}, nil // net/http answers the truncated request
			}
			return head{}, err
		}
	}
	if lineEnd < 0 {
		return head{}, nil // not HTTP/1
	}
	return head{tooLarge: true}, nil
}

func leadingBlank(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// headEnd is the length of the header block at the start of b, up to and
// including its empty line, or 0 when b does not hold all of it. Lines may
// end in LF alone, as net/http accepts.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// head is what the raw header block of a request tells before parsing.
type head struct {
	ours    bool // HTTP/1.x, not CONNECT, no Upgrade and no Expect
	hasHost bool // http.ReadRequest drops the Host field; its absence matters
	// absHost is the Host field of a request with an absolute URI, whose
	// req.Host is the URI's: net/http checks the field all the same.
	absHost string
	// ambiguous is an HTTP/1.x request with both Content-Length and
	// Transfer-Encoding, which http.ReadRequest accepts (dropping the
	// length) and which no server of this project serves: see serve.
	ambiguous bool
	// tooLarge is a header block past the limit, answered 431.
	tooLarge bool
	// malformed is a head whose first line is neither an HTTP/1.0 or 1.1
	// request line nor the h2c preface; parseErr is why it does not parse
	// at all, which is answered here.
	malformed bool
	parseErr  error
}

// isRequestLine reports whether line (with or without its CR) ends as an
// HTTP/1.x request line does.
func isRequestLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0"))
}

func scanHead(block []byte) head {
	line, rest, _ := bytes.Cut(block, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if !isRequestLine(line) {
		return head{malformed: string(line) != "PRI * HTTP/2.0"}
	}
	h := head{ours: !bytes.HasPrefix(line, []byte("CONNECT "))}
	_, target, _ := bytes.Cut(line, []byte{' '})
	absolute := len(target) > 0 && target[0] != '/'
	var length, coding bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		name, value, ok := bytes.Cut(line, []byte{':'})
		switch {
		case !ok:
		case asciiEqualFold(name, "upgrade"), asciiEqualFold(name, "expect"):
			h.ours = false
		case asciiEqualFold(name, "content-length"):
			length = true
		case asciiEqualFold(name, "transfer-encoding"):
			coding = true
		case asciiEqualFold(name, "host"):
			if absolute && !h.hasHost {
				h.absHost = string(bytes.TrimSpace(value))
			}
			h.hasHost = true
		}
	}
	h.ambiguous = length && coding
	if !h.ours {
		return head{ambiguous: h.ambiguous}
	}
	return h
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// handOff gives the connection, with what was read of it, to the Fallback.
func (c *conn) handOff() {
	buffered, _ := c.br.Peek(c.br.Buffered())
	pc := &prefixConn{Conn: c.nc, prefix: append(c.large, buffered...), tls: c.tlsState}
	c.large = nil
	_ = c.nc.SetReadDeadline(time.Time{})
	c.srv.forget(c)
	c.nc = nil // close must not close it
	if h := c.srv.handoff; h == nil || !h.Deliver(pc) {
		pc.Close()
	}
}

func (c *conn) close() {
	c.timer.Stop()
	c.cancel()
	c.state.Store(stateClosed)
	if c.nc != nil && c.unread {
		// Closing a socket with unread input resets it, and the client
		// may lose the answer: half-close and give it time to read.
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			time.Sleep(rstAvoidanceDelay)
		}
	}
	if c.nc != nil {
		c.nc.Close()
		c.srv.forget(c)
	}
}

// serveRequest reads one request, runs the handler and writes the answer;
// it reports whether the connection may serve another.
func (c *conn) serveRequest(h head) bool {
	req, err := http.ReadRequest(c.br)
	if err != nil {
		c.unread = c.replyError(err)
		return false
	}
	if msg := check(req, h); msg != "" {
		c.replyStatus(http.StatusBadRequest, "400 Bad Request: "+msg)
		c.unread = req.ContentLength != 0
		return false
	}
	c.afterPost = req.Method == http.MethodPost
	ctx, cancel := context.WithCancel(c.ctx)
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remote
	req.TLS = c.tlsState

	w := &response{c: c, req: req, header: make(http.Header), contentLength: -1, status: 0}
	w.wantsClose = req.Close
	w.http10KeepAlive = req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(req.Header.Get("Connection"), "keep-alive")
	if req.Body != http.NoBody && req.Body != nil {
		if rt := c.srv.Fallback.ReadTimeout; rt > 0 {
			c.setDeadline(time.Now().Add(rt))
		} else {
			c.setDeadline(time.Time{})
		}
		w.body = &body{c: c, rc: req.Body, length: req.ContentLength}
		req.Body = w.body
		c.bodyDone = false
	} else {
		c.bodyDone = true
	}

	c.mu.Lock()
	c.watch = watchArmed
	c.started = time.Now()
	if !c.timerSet {
		c.timerSet = true
		c.timer.Reset(watchAfter)
	}
	c.mu.Unlock()

	c.runHandler(w, req)
	defer cancel()
	if w.hijacked {
		return false
	}
	c.stopWatch()
	return w.finish() && !c.gone.Load()
}

// stopWatch ends the watch of the request that ran, if one started.
func (c *conn) stopWatch() {
	c.mu.Lock()
	watching := c.watch == watchWatching
	c.watch = watchOff
	c.mu.Unlock()
	if watching {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		<-c.watchDone
		c.deadline = aLongTimeAgo // the next wait sets its own
	}
}

// check applies the checks net/http's server makes after parsing.
func check(req *http.Request, h head) string {
	if req.ProtoAtLeast(1, 1) && !h.hasHost {
		return "missing required Host header"
	}
	host := req.Host
	if req.URL.Host != "" {
		host = h.absHost
	}
	if h.hasHost && !httpguts.ValidHostHeader(host) {
		return "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}

func (c *conn) runHandler(w *response, req *http.Request) {
	defer func() {
		if err := recover(); err != nil {
			w.broken = true
			if err != http.ErrAbortHandler {
				const size = 64 << 10
				buf := make([]byte, size)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("h1: panic serving %v: %v\n%s", c.remote, err, buf)
			}
		}
	}()
	h := c.srv.Fallback.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(w, req)
}

// watchFired runs on the timer's goroutine, watchAfter after it was set.
func (c *conn) watchFired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerSet = false
	if c.watch != watchArmed {
		return // no request runs, or it is watched already
	}
	if left := watchAfter - time.Since(c.started); left > 0 {
		c.timerSet = true // a later request than the one it was set for
		c.timer.Reset(left)
		return
	}
	if !c.bodyDone {
		c.watch = watchDue // the end of the body starts the watch
		return
	}
	c.startWatchLocked()
}

// bodyRead is called once the handler read the request body to its end.
func (c *conn) bodyRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodyDone = true
	if c.watch == watchDue {
		c.startWatchLocked()
	}
}

func (c *conn) startWatchLocked() {
	if c.br.Buffered() > 0 {
		// The client sent its next request already; it has not left.
		c.watch = watchOff
		return
	}
	c.watch = watchWatching
	c.watchDone = make(chan struct{})
	go c.watchClient()
}

// watchClient reads one byte: the client leaving ends the connection's
// context; a pipelined byte is kept for the next request.
func (c *conn) watchClient() {
	defer close(c.watchDone)
	var b [1]byte
	n, err := c.nc.Read(b[:])
	if n == 1 {
		c.cr.held, c.cr.holding = b[0], true
		return
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.gone.Store(true)
		c.cancel()
	}
}

// replyError answers a request that could not be read, as net/http does,
// and reports whether it answered.
func (c *conn) replyError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	switch {
	// The errors net/http's server leaves unanswered.
	case err == io.EOF, errors.As(err, &ne) && ne.Timeout(), errors.As(err, &oe) && oe.Op == "read":
		return false
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		c.replyStatus(http.StatusNotImplemented, "Unsupported transfer encoding")
	default:
		// Like net/http, no detail of a request that did not parse.
		c.replyStatus(http.StatusBadRequest, "400 Bad Request")
	}
	return true
}

// replyStatus writes a short plain-text answer; the connection closes.
func (c *conn) replyStatus(code int, text string) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), text)
	_ = c.bw.Flush()
}

// prefixConn reads prefix before the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
	tls    *tls.ConnectionState // of a TLS connection, which net/http sees as plain
}

// CloseWrite lets net/http half-close before it hangs up on a request it
// refused, so that the client reads the answer instead of a reset.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// hasToken reports whether token (lower case) is in v, case-insensitively,
// between spaces, tabs or commas, as net/http reads Connection fields.
func hasToken(v, token string) bool {
	for i := 0; i+len(token) <= len(v); i++ {
		if (i == 0 || isTokenBoundary(v[i-1])) &&
			(i+len(token) == len(v) || isTokenBoundary(v[i+len(token)])) &&
			strings.EqualFold(v[i:i+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
