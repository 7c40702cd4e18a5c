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
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/testaddr"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// outsideEcho accepts TCP connections on outsideIP, a host CONNECT may
// reach, and echoes them back.
func outsideEcho(t testing.TB) string {
	return testaddr.ServeOn(t, net.JoinHostPort(outsideIP(t), "0"), func(c net.Conn) { io.Copy(c, c) })
}

func TestServe(t *testing.T) {
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{
		external("web", replica(t, "web", "web-a", nil)),
		internalApp("api", replica(t, "api", "api-a", nil)),
	}))
	pub, in := listen(t), listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- New(Options{Routes: src}).Serve(ctx, Listeners{HTTP: pub, Internal: in}) }()

	c := newClient(t, nil)
	if r := do(t, c, "http://"+pub.Addr().String(), "web.localhost", nil); r.status != http.StatusOK || r.body != "web-a" {
		t.Fatalf("public: %d %q", r.status, r.body)
	}
	inURL := &url.URL{Scheme: "http", Host: in.Addr().String()}
	if r := do(t, newClient(t, inURL), "http://api/", "", nil); r.status != http.StatusOK || r.body != "api-a" {
		t.Fatalf("internal: %d %q", r.status, r.body)
	}

	// An open tunnel is hijacked, so only the edge itself can end it.
	conn, br := connect(t, in.Addr().String(), outsideEcho(t))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v", res, err)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo through tunnel = %q, %v", line, err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after ctx ends", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
	if _, err := br.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("reading the tunnel after shutdown = %v, want EOF", err)
	}
	if c, err := net.Dial("tcp", pub.Addr().String()); err == nil {
		c.Close()
		t.Error("public listener still accepts after shutdown")
	}
}

func TestServeErrors(t *testing.T) {
	closed := listen(t)
	closed.Close()

	tests := []struct {
		name     string
		public   net.Listener
		internal net.Listener
		want     string
	}{
		{name: "no listener", want: "no listener"},
		{name: "broken public listener", public: closed, internal: listen(t), want: "public listener"},
		{name: "broken internal listener", internal: closed, want: "internal listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- New(Options{}).Serve(t.Context(), Listeners{HTTP: tt.public, Internal: tt.internal}) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Serve = %v, want an error mentioning %q", err, tt.want)
				}
				if errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve leaked %v", err)
				}
			case <-time.After(shutdownGrace + 5*time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// openH2C opens a cleartext HTTP/2 connection to addr with prior
// knowledge and reads the server's SETTINGS, which must allow frames of
// maxFrameSize at most.
func openH2C(t *testing.T, addr string) (*http2.Framer, net.Conn) {
	t.Helper()
	c, _ := dialRaw(t, addr)
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.SetMaxReadFrameSize(1 << 20)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	settings, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame = %v, want SETTINGS", f)
	}
	if v, ok := settings.Value(http2.SettingMaxFrameSize); ok && v != maxFrameSize {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE = %d, want %d", v, maxFrameSize)
	}
	return fr, c
}

// nextAnswer reads frames up to the first GOAWAY or response headers.
func nextAnswer(t *testing.T, fr *http2.Framer) http2.Frame {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY or answer: %v", err)
		}
		switch f.(type) {
		case *http2.GoAwayFrame, *http2.MetaHeadersFrame:
			return f
		}
	}
}

// An HTTP/2 request whose host field names another host than its
// :authority is malformed (RFC 9113 section 8.3.1): 400, whichever of the
// two names an app.
func TestHTTP2AuthorityAndHostDiffer(t *testing.T) {
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{
		external("web", replica(t, "web", "web-a", nil)),
		external("admin", replica(t, "admin", "admin-a", nil)),
	}))
	pub := listen(t)
	go New(Options{Routes: src}).Serve(t.Context(), Listeners{HTTP: pub})

	for _, tt := range []struct {
		authority, host string
		want            string
	}{
		{"web.localhost", "", "200"},
		{"web.localhost", "web.localhost", "200"},
		{"web.localhost", "WEB.localhost", "200"},
		{"web.localhost", "admin.localhost", "400"},
		{"admin.localhost", "web.localhost", "400"},
	} {
		fr, _ := openH2C(t, pub.Addr().String())
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", tt.authority}, {"host", tt.host}} {
			if f[1] != "" {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		f, ok := nextAnswer(t, fr).(*http2.MetaHeadersFrame)
		if !ok {
			t.Fatalf(":authority %s, host %q: no answer", tt.authority, tt.host)
		}
		if got := f.PseudoValue("status"); got != tt.want {
			t.Errorf(":authority %s, host %q: status %s, want %s", tt.authority, tt.host, got, tt.want)
		}
	}
}

// The edge reads HTTP/2 frames of at most 16 KiB and says so in its
// SETTINGS; a header block sent in one larger frame ends the connection
// with FRAME_SIZE_ERROR (RFC 9113 section 4.2), while the same headers
// split into CONTINUATION frames are served.
func TestHTTP2FrameSize(t *testing.T) {
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{external("web", replica(t, "web", "web-a", nil))}))
	pub := listen(t)
	go New(Options{Routes: src}).Serve(t.Context(), Listeners{HTTP: pub})

	open := func() (*http2.Framer, net.Conn) { return openH2C(t, pub.Addr().String()) }
	// 5 headers of 4000 bytes: about 20 KB of header block.
	block := func() []byte {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "web.localhost"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		for i := range 5 {
			enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-dummy%d", i), Value: strings.Repeat("x", 4000)})
		}
		return buf.Bytes()
	}

	next := func(fr *http2.Framer) http2.Frame { return nextAnswer(t, fr) }

	fr, _ := open()
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if f := next(fr); f.Header().Type != http2.FrameGoAway || f.(*http2.GoAwayFrame).ErrCode != http2.ErrCodeFrameSize {
		t.Fatalf("a header block over the frame size got %v, want GOAWAY with FRAME_SIZE_ERROR", f)
	}

	fr, _ = open()
	b := block()
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:maxFrameSize], EndStream: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteContinuation(1, true, b[maxFrameSize:]); err != nil {
		t.Fatal(err)
	}
	if f := next(fr); f.Header().Type != http2.FrameHeaders || f.(*http2.MetaHeadersFrame).PseudoValue("status") != "200" {
		t.Fatalf("headers in CONTINUATION frames got %v, want a 200", f)
	}
}

// A request with both Content-Length and Transfer-Encoding gets 400 from
// the edge and never reaches the app, as with ACA's Envoy; a request behind
// it on the same connection is not read.
func TestAmbiguousLengthRefused(t *testing.T) {
	var reached atomic.Int32
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{external("web", replica(t, "web", "web-a",
		func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))}))
	pub := listen(t)
	go New(Options{Routes: src}).Serve(t.Context(), Listeners{HTTP: pub})

	c, err := net.Dial("tcp", pub.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
	out, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(out), "HTTP/1.1 400 ") || strings.Count(string(out), "HTTP/1.1 ") != 1 {
		t.Fatalf("answer:\n%s\nwant one 400, then the connection closed", out)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the app got %d requests", n)
	}
}

// dialRaw connects to addr for a raw exchange of at most 10 s, closed when
// the test ends.
func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// A chunked request body that is malformed gets 400 from the edge; when it
// breaks within the first maxBufferedBody bytes nothing reaches the app,
// and past them the app sees the body cut short, never a whole one.
func TestMalformedChunkedBody(t *testing.T) {
	type got struct {
		n   int
		err error
	}
	reached := make(chan got, 10)
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{external("web", replica(t, "web", "web-a",
		func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			reached <- got{len(b), err}
			fmt.Fprintf(w, "%d %d", len(b), r.ContentLength)
		}))}))
	pub := listen(t)
	go New(Options{Routes: src}).Serve(t.Context(), Listeners{HTTP: pub})

	exchange := func(t *testing.T, body string) string {
		t.Helper()
		c, br := dialRaw(t, pub.Addr().String())
		go io.WriteString(c, "POST / HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, b)
	}
	chunk := func(n int) string { return fmt.Sprintf("%x\r\n%s\r\n", n, strings.Repeat("x", n)) }
	big := strings.Repeat(chunk(16<<10), 5) // past maxBufferedBody

	t.Run("small and malformed", func(t *testing.T) {
		if out := exchange(t, chunk(5)+"zz\r\n"); !strings.HasPrefix(out, "400 malformed request body") {
			t.Fatalf("answer %q, want 400", out)
		}
		select {
		case g := <-reached:
			t.Fatalf("the app got a request (%d bytes, %v)", g.n, g.err)
		case <-time.After(200 * time.Millisecond):
		}
	})
	t.Run("small and whole", func(t *testing.T) {
		// Read whole, it goes on with its length.
		if out := exchange(t, chunk(5)+chunk(3)+"0\r\n\r\n"); out != "200 8 8" {
			t.Fatalf("answer %q, want 200 8 8", out)
		}
		<-reached
	})
	t.Run("large and whole", func(t *testing.T) {
		if out := exchange(t, big+"0\r\n\r\n"); out != fmt.Sprintf("200 %d -1", 5*16<<10) {
			t.Fatalf("answer %q", out)
		}
		<-reached
	})
	t.Run("large and malformed", func(t *testing.T) {
		if out := exchange(t, big+"zz\r\n"); !strings.HasPrefix(out, "400 malformed request body") {
			t.Fatalf("answer %q, want 400", out)
		}
		select {
		case g := <-reached:
			if g.err == nil {
				t.Fatalf("the app read a whole body of %d bytes", g.n)
			}
		case <-time.After(5 * time.Second):
		}
	})
}

// headBlock is a GET of host whose request line and header block, blank
// line included, are exactly size bytes.
func headBlock(host string, size int) string {
	start := "GET / HTTP/1.1\r\nHost: " + host + "\r\nX-Pad: "
	return start + strings.Repeat("p", size-len(start)-len("\r\n\r\n")) + "\r\n\r\n"
}

// The edge reads request headers of up to 64 KiB, request line included,
// and answers 431 to a byte more, on a new connection and on one that
// served a request before. (A connection handed to net/http after its
// first request reads later ones with net/http's limit, up to 4 KiB more.)
func TestHeaderBytesLimit(t *testing.T) {
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{external("web", replica(t, "web", "web-a", nil))}))
	pub := listen(t)
	go New(Options{Routes: src}).Serve(t.Context(), Listeners{HTTP: pub})

	status := func(t *testing.T, first string, size int) int {
		t.Helper()
		c, br := dialRaw(t, pub.Addr().String())
		if first != "" {
			io.WriteString(c, first)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		io.WriteString(c, headBlock("web.localhost", size))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, first := range []string{"", headBlock("web.localhost", 100)} {
		for size, want := range map[int]int{maxHeaderBytes: 200, maxHeaderBytes + 1: 431} {
			if got := status(t, first, size); got != want {
				t.Errorf("after %d bytes, a header block of %d bytes: %d, want %d", len(first), size, got, want)
			}
		}
	}
}
