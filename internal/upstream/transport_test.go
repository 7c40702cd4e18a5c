package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// server is a real HTTP server that counts the connections it accepted.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func newTransport() *Transport {
	return &Transport{Fallback: &http.Transport{Proxy: nil}}
}

func get(t *testing.T, tr http.RoundTripper, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return res, string(b)
}

func TestKeepsConnectionsAlive(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	})
	tr := newTransport()
	for i := range 50 {
		_, body := get(t, tr, http.MethodGet, fmt.Sprintf("%s/n/%d", srv.URL, i), nil)
		if want := fmt.Sprintf("GET /n/%d", i); body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("50 sequential requests used %d connections, want 1", n)
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(bytes.ToUpper(b))
	})
	tr := newTransport()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				msg := fmt.Sprintf("g%d-r%d", g, i)
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(msg))
				res, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(b) != strings.ToUpper(msg) {
					errs <- fmt.Errorf("got %q, %v; want %q", b, err, strings.ToUpper(msg))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > 8 {
		t.Errorf("8 concurrent clients used %d connections, want at most 8", n)
	}
}

func TestChunkedBodyAndTrailers(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "3")
	})
	tr := newTransport()
	for range 2 {
		res, body := get(t, tr, http.MethodGet, srv.URL, nil)
		if body != "part0;part1;part2;" || res.ContentLength != -1 {
			t.Fatalf("body %q (length %d), want three chunks", body, res.ContentLength)
		}
		if got := res.Trailer.Get("X-Sum"); got != "3" {
			t.Fatalf("trailer X-Sum = %q, want 3", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("chunked responses used %d connections, want 1", n)
	}
}

func TestResponsesWithoutBody(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	tr := newTransport()
	for _, c := range []struct{ method, path, body string }{
		{http.MethodHead, "/", ""},
		{http.MethodGet, "/204", ""},
		{http.MethodGet, "/304", ""},
		{http.MethodGet, "/", "hello"},
	} {
		res, body := get(t, tr, c.method, srv.URL+c.path, nil)
		if body != c.body {
			t.Errorf("%s %s: body %q, want %q", c.method, c.path, body, c.body)
		}
		if c.method == http.MethodHead && res.ContentLength != 5 {
			t.Errorf("HEAD: Content-Length %d, want 5", res.ContentLength)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("used %d connections, want 1", n)
	}
}

// rawServer answers the first request on each connection. Then, with
// readNext false, it closes the connection without saying so, as a server
// whose idle timeout fired does; with readNext true it reads one more
// request and closes without answering it, as a crashing server does. It
// counts the requests it read.
func rawServer(t *testing.T, readNext bool) (addr string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	read := func(br *bufio.Reader) bool {
		req, err := http.ReadRequest(br)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, req.Body)
		requests.Add(1)
		return true
	}
	addr = testaddr.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if !read(br) {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if readNext {
			read(br)
		}
	})
	return addr, requests
}

// waitClosedByPeer gives the server's FIN time to arrive.
func waitClosedByPeer() { time.Sleep(50 * time.Millisecond) }

func TestRetriesIdempotentRequestOnConnectionTheServerClosed(t *testing.T) {
	addr, requests := rawServer(t, false)
	tr := newTransport()
	for i := range 3 {
		if _, body := get(t, tr, http.MethodGet, "http://"+addr+"/", nil); body != "ok" {
			t.Fatalf("request %d: body %q", i, body)
		}
		waitClosedByPeer()
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("server read %d requests, want 3", n)
	}
}

func TestChecksConnectionBeforeSendingNonIdempotentRequest(t *testing.T) {
	addr, requests := rawServer(t, false)
	tr := newTransport()
	get(t, tr, http.MethodGet, "http://"+addr+"/", nil)
	waitClosedByPeer()
	// The pooled connection is dead; the POST must go out on a new one,
	// exactly once.
	if _, body := get(t, tr, http.MethodPost, "http://"+addr+"/", strings.NewReader("data")); body != "ok" {
		t.Fatalf("POST: body %q", body)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("server read %d requests, want 2", n)
	}
}

func TestResendsOnlyIdempotentRequestsThatGotNoAnswer(t *testing.T) {
	addr, requests := rawServer(t, true)
	tr := newTransport()

	// A GET on the kept-alive connection reaches a server that dies
	// before answering: it is sent again on a new connection.
	get(t, tr, http.MethodGet, "http://"+addr+"/", nil)
	if _, body := get(t, tr, http.MethodGet, "http://"+addr+"/", nil); body != "ok" {
		t.Fatalf("GET: body %q", body)
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("server read %d requests, want 3 (GET, lost GET, GET again)", n)
	}

	// The same for a POST is an error: the server may have acted on it.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("data"))
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("POST that got no answer succeeded")
	}
	time.Sleep(50 * time.Millisecond)
	if n := requests.Load(); n != 4 {
		t.Errorf("server read %d requests, want 4 (the POST once)", n)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	})
	defer close(release)
	tr := newTransport()
	tr.ResponseHeaderTimeout = 100 * time.Millisecond
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/slow", nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("slow server: err = %v, want ErrResponseHeaderTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timed out after %s, want about 100ms", d)
	}
	// A fast answer later is not hit by the old deadline.
	get(t, tr, http.MethodGet, srv.URL+"/fast", nil)
	time.Sleep(150 * time.Millisecond)
	if _, body := get(t, tr, http.MethodGet, srv.URL+"/fast", nil); body != "ok" {
		t.Fatalf("body %q", body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("used %d connections, want 2 (the timed-out one is closed)", n)
	}
}

// stream serves an endless body, one chunk every 10ms.
func stream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			io.WriteString(w, "short")
			return
		}
		for r.Context().Err() == nil {
			io.WriteString(w, "tick\n")
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestCancelUnblocksBodyRead(t *testing.T) {
	srv, conns := stream(t)
	tr := newTransport()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, res.Body); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("reading an endless body after cancel ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not unblock the body read")
	}
	res.Body.Close()
	if _, body := get(t, tr, http.MethodGet, srv.URL+"/short", nil); body != "short" {
		t.Fatalf("after cancel: body %q", body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("used %d connections, want 2 (the cancelled one is not reused)", n)
	}
}

func TestEarlyCloseDoesNotDrainEndlessBody(t *testing.T) {
	srv, conns := stream(t)
	tr := newTransport()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { res.Body.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of an endless body did not return")
	}
	if _, err := res.Body.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	get(t, tr, http.MethodGet, srv.URL+"/short", nil)
	if n := conns.Load(); n != 2 {
		t.Errorf("used %d connections, want 2", n)
	}
}

func TestInformationalResponsesReachTrace(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "final")
	})
	tr := newTransport()
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "final" {
		t.Fatalf("final response %d %q", res.StatusCode, b)
	}
	if len(got) != 1 || got[0] != "103 </app.css>; rel=preload" {
		t.Errorf("1xx seen by the trace: %q", got)
	}
}

func TestHeaderLimit(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("a", 8<<10))
	})
	tr := newTransport()
	tr.MaxHeaderBytes = 4 << 10
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("err = %v, want ErrHeaderTooLarge", err)
	}
}

func TestIdleTimeoutClosesOldConnections(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport()
	tr.IdleTimeout = 30 * time.Millisecond
	get(t, tr, http.MethodGet, srv.URL, nil)
	time.Sleep(60 * time.Millisecond)
	get(t, tr, http.MethodGet, srv.URL, nil)
	if n := conns.Load(); n != 2 {
		t.Errorf("used %d connections, want 2 (the idle one expired)", n)
	}
}

// countingRoundTripper is the real net/http Transport, counting what it is
// handed.
type countingRoundTripper struct {
	n  atomic.Int64
	rt http.RoundTripper
}

func (c *countingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func TestLeavesToFallbackWhatNeedsConcurrency(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	})
	fb := &countingRoundTripper{rt: &http.Transport{Proxy: nil}}
	tr := &Transport{Fallback: fb, MaxBody: 1024}

	unknown, _ := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader("abc")))
	unknown.ContentLength = -1
	large, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 2048)))
	upgrade, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	upgrade.Header.Set("Connection", "Upgrade")
	upgrade.Header.Set("Upgrade", "websocket")
	expect, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("abc"))
	expect.Header.Set("Expect", "100-continue")
	small, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("abc"))

	for name, req := range map[string]*http.Request{"unknown length": unknown, "large": large, "upgrade": upgrade, "expect": expect} {
		before := fb.n.Load()
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res.Body.Close()
		if fb.n.Load() != before+1 {
			t.Errorf("%s: not handed to the fallback", name)
		}
	}
	before := fb.n.Load()
	res, err := tr.RoundTrip(small)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "3" || fb.n.Load() != before {
		t.Errorf("small body: answer %q, fallback used %d times; want 3 and 0", b, fb.n.Load()-before)
	}
}

func TestUnreachableServer(t *testing.T) {
	addr := testaddr.Refused(t)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if _, err := newTransport().RoundTrip(req); err == nil {
		t.Fatal("request to a closed port succeeded")
	}
}

// TestPassesOnEarlyAnswer: a server that refuses a body after reading only
// the request head answers and closes; its answer reaches the caller, not a
// write error.
func TestPassesOnEarlyAnswer(t *testing.T) {
	addr := testaddr.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 8\r\n\r\ntoo big\n")
		// Reset rather than a quiet close, so the client's write fails
		// however much the kernel buffered.
		c.(*net.TCPConn).SetLinger(0)
	})
	tr := newTransport()
	tr.MaxBody = 64 << 20
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(make([]byte, 16<<20)))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("POST of a refused body: %v, want the server's 413", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too big\n" {
			t.Fatalf("got %d %q, want 413 %q", res.StatusCode, b, "too big\n")
		}
	}
}

func TestReadAfterEndKeepsAnsweringEOF(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
	for range 2 {
		if n, err := res.Body.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Fatalf("Read after the end: %d, %v; want 0, io.EOF", n, err)
		}
	}
}

// restartingServer serves "ok" on addr until kill closes the listener and
// every connection at once, as the kernel does when a process is killed.
func restartingServer(t *testing.T, addr string) (kill func()) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return func() { srv.Close() }
}

// poolConnections leaves n kept-alive connections to url in tr's pool.
func poolConnections(t *testing.T, tr *Transport, url string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	held := make([]io.ReadCloser, n)
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			held[i] = res.Body
		})
	}
	close(start)
	wg.Wait()
	// Bodies closed after all were open: n connections, all returned.
	for _, b := range held {
		if b != nil {
			io.ReadAll(b)
			b.Close()
		}
	}
	tr.mu.Lock()
	got := len(tr.idle[strings.TrimPrefix(url, "http://")])
	tr.mu.Unlock()
	if got != n {
		t.Fatalf("%d pooled connections, want %d", got, n)
	}
}

// TestServerRestartedOnSamePort is a replica killed and started again on
// its port: every kept-alive connection to it is dead, and no request to
// the new process may fail on them.
func TestServerRestartedOnSamePort(t *testing.T) {
	hostport := fmt.Sprintf("127.0.0.1:%d", testaddr.FreePort(t))
	url := "http://" + hostport
	kill := restartingServer(t, hostport)
	tr := newTransport()
	poolConnections(t, tr, url, 4)
	kill()
	waitClosedByPeer()
	restartingServer(t, hostport)
	for i := range 8 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET %d after the restart: %v", i, err)
		}
		io.ReadAll(res.Body)
		res.Body.Close()
	}
}

func TestCloseIdleTo(t *testing.T) {
	a, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	tr := newTransport()
	poolConnections(t, tr, a.URL, 2)
	poolConnections(t, tr, b.URL, 2)
	tr.CloseIdleTo(strings.TrimPrefix(a.URL, "http://"))
	tr.mu.Lock()
	na, nb := len(tr.idle[strings.TrimPrefix(a.URL, "http://")]), len(tr.idle[strings.TrimPrefix(b.URL, "http://")])
	tr.mu.Unlock()
	if na != 0 || nb != 2 {
		t.Errorf("after CloseIdleTo(a): %d pooled to a, %d to b; want 0 and 2", na, nb)
	}
}
