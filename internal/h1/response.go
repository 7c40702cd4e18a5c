package h1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// pendingMax is how much body a handler may write before its header must
// go out; a handler that finishes within it gets a Content-Length.
const pendingMax = 2 << 10

// response is the http.ResponseWriter of one request, with net/http's
// framing rules. The header is serialized when WriteHeader is called, which
// is the snapshot net/http takes too; what only the end of the handler
// decides (Content-Length, chunking, Connection) is added when the header is
// written out.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil when the request has none
	header http.Header

	status        int   // 0 until WriteHeader
	contentLength int64 // declared by the handler or computed; -1 unknown
	written       int64
	committed     bool
	chunked       bool
	handlerDone   bool
	broken        bool // the handler panicked
	hijacked      bool
	fullDuplex    bool

	wantsClose      bool
	http10KeepAlive bool
	closeAfter      bool

	// From the header at WriteHeader.
	te, connection string
	hasLength      bool // even invalid or empty: no length is computed then
	hasDate        bool
	hasType        bool
	hasEncoding    bool
	trailers       []string
}

var _ interface {
	http.ResponseWriter
	http.Flusher
	http.Hijacker
	FlushError() error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	EnableFullDuplex() error
} = (*response)(nil)

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 {
		w.c.srv.logf("h1: superfluous response.WriteHeader call (status %d, then %d)", w.status, code)
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out now; the final one follows.
		b := appendStatusLine(w.c.scratch[:0], w.req.ProtoAtLeast(1, 1), code)
		b = w.appendFields(b, func(k string) bool { return k == "Content-Length" || k == "Transfer-Encoding" })
		b = append(b, "\r\n"...)
		w.c.scratch = b
		_, _ = w.c.bw.Write(b)
		_ = w.c.bw.Flush()
		return
	}
	w.status = code
	h := w.header
	if cl := h.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.logf("h1: invalid Content-Length of %q", cl)
		}
	}
	_, w.hasLength = h["Content-Length"]
	w.te = h.Get("Transfer-Encoding")
	w.connection = strings.Join(h["Connection"], ", ")
	_, w.hasDate = h["Date"]
	_, w.hasType = h["Content-Type"]
	w.hasEncoding = h.Get("Content-Encoding") != ""
	for _, v := range h["Trailer"] {
		for f := range strings.SplitSeq(v, ",") {
			if k := http.CanonicalHeaderKey(strings.TrimSpace(f)); k != "" && httpguts.ValidTrailerHeader(k) {
				w.trailers = append(w.trailers, k)
			}
		}
	}
	b := appendStatusLine(w.c.scratch[:0], w.req.ProtoAtLeast(1, 1), code)
	w.c.scratch = w.appendFields(b, w.framed)
}

// framed reports the fields the header block leaves out: those of the
// framing, written when the header goes out, and the trailers.
func (w *response) framed(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection":
		return true
	case "Content-Type":
		return w.status == http.StatusNotModified
	}
	return strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(w.trailers, k)
}

// appendFields appends the header's fields but those skip names, sorted,
// with line breaks in values turned to spaces.
func (w *response) appendFields(b []byte, skip func(string) bool) []byte {
	keys := w.c.keys[:0]
	for k := range w.header {
		if !skip(k) && httpguts.ValidHeaderFieldName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	w.c.keys = keys
	for _, k := range keys {
		for _, v := range w.header[k] {
			b = appendField(b, k, v)
		}
	}
	return b
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	v = strings.TrimSpace(v)
	for i := range len(v) {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b, "\r\n"...)
}

func appendStatusLine(b []byte, is11 bool, code int) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
	} else {
		b = fmt.Appendf(b, "%03d status code %d", code, code)
	}
	return append(b, "\r\n"...)
}

func bodyAllowed(code int) bool {
	return (code < 100 || code > 199) && code != http.StatusNoContent && code != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	// Like net/http, a write past the declared length counts, so every
	// later one fails too.
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if !w.committed {
		if len(w.c.pending)+len(p) <= pendingMax {
			w.c.pending = append(w.c.pending, p...)
			return len(p), nil
		}
		w.commit(p)
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if len(p) == 0 || w.req.Method == http.MethodHead {
		return len(p), nil
	}
	bw := w.c.bw
	if w.chunked {
		var size [16]byte
		_, _ = bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.closeAfter = true
	}
	return n, err
}

// commit writes the header, then what the handler wrote so far; next is
// the write that made it go out, if any, to sniff a Content-Type from.
func (w *response) commit(next []byte) {
	w.committed = true
	c := w.c
	isHead := w.req.Method == http.MethodHead
	body := bodyAllowed(w.status)
	trailers := len(w.trailers) > 0
	if !trailers {
		for k := range w.header {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				trailers = true
				break
			}
		}
	}
	hasTE := w.te != ""
	if w.handlerDone && !trailers && !hasTE && body && !w.hasLength && (!isHead || len(c.pending) > 0) {
		w.contentLength = int64(len(c.pending))
	}
	hasCL := w.contentLength != -1
	extraConnection := ""
	if w.http10KeepAlive && (isHead || hasCL || !body) {
		if w.connection == "" {
			extraConnection = "keep-alive"
		}
	} else if !w.req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfter = true
	}
	if hasToken(w.connection, "close") || c.srv.closing.Load() {
		w.closeAfter = true
	}
	if !w.fullDuplex && !w.closeAfter {
		w.dropBody(&extraConnection)
	}
	if hasCL && hasTE && w.te != "identity" {
		c.srv.logf("h1: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", w.te, w.contentLength)
		w.contentLength, hasCL = -1, false
	}
	te := ""
	switch {
	case isHead || !body:
	case hasCL:
	case w.req.ProtoAtLeast(1, 1):
		if w.te == "identity" {
			w.closeAfter = true
		} else {
			w.chunked, te = true, "chunked"
		}
	default:
		w.closeAfter = true
	}

	b := c.scratch
	if hasCL && !w.chunked && body {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, w.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if te != "" {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if body && !w.hasType && !w.hasEncoding && !hasTE && len(c.pending)+len(next) > 0 {
		b = appendField(b, "Content-Type", sniff(c.pending, next))
	}
	if !w.hasDate {
		b = append(b, "Date: "...)
		b = append(b, c.srv.date.get(time.Now())...)
		b = append(b, "\r\n"...)
	}
	switch {
	case w.closeAfter && !hasToken(w.connection, "close") && w.status != http.StatusSwitchingProtocols:
		if w.req.ProtoAtLeast(1, 1) {
			b = append(b, "Connection: close\r\n"...)
		}
	case extraConnection != "":
		b = appendField(b, "Connection", extraConnection)
	case w.connection != "":
		b = appendField(b, "Connection", w.connection)
	}
	b = append(b, "\r\n"...)
	c.scratch = b
	if _, err := c.bw.Write(b); err != nil {
		w.closeAfter = true
	}
	if len(c.pending) > 0 {
		_, _ = w.writeBody(c.pending)
		c.pending = c.pending[:0]
	}
}

// sniff guesses the type of a body that starts with a, then b.
func sniff(a, b []byte) string {
	const n = 512 // what http.DetectContentType reads
	if len(a) >= n || len(b) == 0 {
		return http.DetectContentType(a)
	}
	if len(a) == 0 {
		return http.DetectContentType(b)
	}
	return http.DetectContentType(append(a[:len(a):len(a)], b[:min(len(b), n-len(a))]...))
}

// dropBody reads and drops the request body the handler left, up to
// maxDiscard, before the answer goes out, as net/http does: a client may
// not read the answer before it sent its whole request.
func (w *response) dropBody(connection *string) {
	b := w.body
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.eof:
		return
	case b.closed:
		w.closeAfter = true
		return
	case b.length >= 0 && b.length-b.read >= maxDiscard:
	default:
		if b.discardLocked() {
			return
		}
	}
	w.closeAfter = true
	*connection = ""
}

// FlushError sends what the handler wrote so far; the header goes out
// first if it has not.
func (w *response) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	return w.c.bw.Flush()
}

func (w *response) Flush() { _ = w.FlushError() }

func (w *response) SetReadDeadline(t time.Time) error {
	w.c.deadline = t
	return w.c.nc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex lets the handler read the request body after it started
// answering.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection to the handler, with what was read of it and
// what was written to it so far, as net/http does.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.status != 0 {
		if err := w.FlushError(); err != nil {
			return nil, nil, err
		}
	}
	c.stopWatch()
	w.hijacked = true
	nc := c.nc
	_ = nc.SetDeadline(time.Time{})
	c.srv.forget(c)
	c.nc = nil // close must leave it open
	return nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish ends the answer after the handler returned and reports whether
// the connection may serve another request.
func (w *response) finish() bool {
	if w.broken {
		return false
	}
	w.handlerDone = true
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers()
		_, _ = bw.WriteString("\r\n")
	}
	if w.contentLength != -1 && w.written != w.contentLength && w.req.Method != http.MethodHead && bodyAllowed(w.status) {
		w.closeAfter = true // the client waits for bytes that never come
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	if b := w.body; b != nil {
		b.mu.Lock()
		ok := b.eof || !b.closed && (b.length < 0 || b.length-b.read < maxDiscard) && b.discardLocked()
		b.mu.Unlock()
		if !ok {
			w.c.unread = true
			return false
		}
	}
	return !w.closeAfter && !w.c.srv.closing.Load()
}

func (w *response) writeTrailers() {
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) {
			for _, v := range vv {
				w.c.scratch = appendField(w.c.scratch[:0], name, v)
				_, _ = w.c.bw.Write(w.c.scratch)
			}
		}
	}
	for _, k := range w.trailers {
		for _, v := range w.header[k] {
			w.c.scratch = appendField(w.c.scratch[:0], k, v)
			_, _ = w.c.bw.Write(w.c.scratch)
		}
	}
}

// body is a request body as the handler sees it: closing it does not read
// it to its end (the server decides that), and its end starts the watch
// for a client that leaves.
type body struct {
	c      *conn
	rc     io.ReadCloser
	length int64 // -1 when chunked

	mu     sync.Mutex
	read   int64
	eof    bool
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.ended(err) {
		b.eof = true
		b.c.bodyRead()
	}
	return n, err
}

// Close reads what is left of a body up to maxDiscard, so that the
// connection can serve another request, as net/http's does.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.eof {
		b.closed = true
		return nil
	}
	if b.length < 0 || b.length-b.read <= maxDiscard {
		b.discardLocked()
	}
	b.closed = true
	return nil
}

// discardLocked reads what is left, up to maxDiscard, and reports whether
// it reached the end.
func (b *body) discardLocked() bool {
	n, err := io.CopyN(io.Discard, b.rc, maxDiscard+1)
	b.read += n
	if b.ended(err) {
		b.eof = true
		b.c.bodyRead()
	}
	// A body cut short is over but the connection is not fit for more.
	return err == io.EOF
}

// ended reports whether a read error means the body was read to its end:
// io.EOF, or, as net/http counts it, a declared length cut short by the
// client (a chunked body cut short is not over).
func (b *body) ended(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF && b.length >= 0
}
