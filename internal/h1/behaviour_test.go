package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fastServer(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0), Protocols: new(http.Protocols)}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	s := New(hs)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, ln.Addr().String()
}

// A client that leaves while its request runs cancels the request's
// context, as with net/http.
func TestClientLeavingCancelsContext(t *testing.T) {
	cancelled := make(chan error, 1)
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- nil
		}
	}))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, req)
		time.Sleep(50 * time.Millisecond)
		c.Close()
		if err := <-cancelled; err != context.Canceled {
			t.Fatalf("%q: the handler's context ended with %v, want context.Canceled", req, err)
		}
	}
}

// The watch timer is set once for a run of requests on a connection: a
// request that starts while the timer set by an earlier one is due is
// watched once it has itself run for watchAfter, not earlier and not never.
func TestWatchAfterEarlierRequest(t *testing.T) {
	type ended struct {
		err error
		ran time.Duration
	}
	cancelled := make(chan ended, 1)
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return
		}
		start := time.Now()
		select {
		case <-r.Context().Done():
			cancelled <- ended{r.Context().Err(), time.Since(start)}
		case <-time.After(10 * time.Second):
			cancelled <- ended{nil, time.Since(start)}
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	// The timer the fast request set fires while the slow one is young.
	time.Sleep(watchAfter * 4 / 5)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	c.Close()
	got := <-cancelled
	if got.err != context.Canceled {
		t.Fatalf("the slow request ended with %v after %s, want context.Canceled", got.err, got.ran)
	}
	// Watched about watchAfter into the request: not at the earlier
	// request's timer (50 ms in), and not seconds later. The bounds are
	// loose for a loaded machine.
	if got.ran < watchAfter/2 || got.ran > 8*watchAfter {
		t.Fatalf("the client's leaving was noticed %s into the request, want about %s", got.ran, watchAfter)
	}
}

// A request sent while the previous one runs long enough to be watched
// is served, byte for byte.
func TestPipelinedWhileWatched(t *testing.T) {
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * watchAfter)
		}
		fmt.Fprintf(w, "%s %s", r.URL.Path, r.Header.Get("X-N"))
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\nX-N: "+fmt.Sprint(i)+"\r\n\r\n")
		time.Sleep(watchAfter + watchAfter/2) // the watch runs: the next bytes go to it
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\nX-N: "+fmt.Sprint(i)+"\r\n\r\n")
		for _, want := range []string{"/slow " + fmt.Sprint(i), "/next " + fmt.Sprint(i)} {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			if string(b) != want {
				t.Fatalf("answer %q, want %q", b, want)
			}
		}
	}
}

// A kept-alive connection serves many requests, and net/http's client
// reuses it.
func TestKeepAliveWithNetHTTPClient(t *testing.T) {
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Len", fmt.Sprint(len(b)))
		io.WriteString(w, strings.Repeat("y", len(b)))
	}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	var reused atomic.Int32
	for i := range 50 {
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if ci.Reused {
				reused.Add(1)
			}
		}}
		body := strings.Repeat("x", i*1000)
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(b) != len(body) || res.Header.Get("X-Len") != fmt.Sprint(len(body)) {
			t.Fatalf("request %d: %d bytes back, X-Len %s", i, len(b), res.Header.Get("X-Len"))
		}
	}
	if reused.Load() != 49 {
		t.Fatalf("%d of 49 requests reused the connection", reused.Load())
	}
}

// HTTP/2 with prior knowledge goes to the Fallback and works.
func TestHandsOverH2C(t *testing.T) {
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	for range 3 {
		res, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "HTTP/2.0" {
			t.Fatalf("served as %q, want HTTP/2.0", b)
		}
	}
}

// A handler that answers before reading the body can still read it once
// it enabled full duplex.
func TestFullDuplex(t *testing.T) {
	_, addr := fastServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	}))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", pr)
	errc := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- err
			return
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != "10000 <nil>" {
			err = fmt.Errorf("answer %q", b)
		}
		errc <- err
	}()
	for range 10 {
		pw.Write([]byte(strings.Repeat("z", 1000)))
	}
	pw.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Shutdown closes idle connections at once, lets a running request finish
// with Connection: close, and Serve returns http.ErrServerClosed.
func TestShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})}
	s := New(hs)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	busy, _ := net.Dial("tcp", addr)
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the idle connection read %d, %v; want EOF", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	res, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || !res.Close {
		t.Fatalf("running request: %v (close %v), %v", res, res != nil && res.Close, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the listener still accepts")
	}
}

// A slow client cannot hold a connection past the read-header timeout,
// and an idle one past the idle timeout.
func TestTimeouts(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 200 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	s := New(hs)
	go s.Serve(ln)
	defer s.Close()
	for _, first := range []string{"GET / HTTP/1.1\r\nHo", ""} {
		c, _ := net.Dial("tcp", ln.Addr().String())
		io.WriteString(c, first)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("after %q: %v, want the server to close", first, err)
		}
		c.Close()
	}
}

// Shutdown may come while Serve is starting (the race detector checks it).
func TestShutdownWhileServeStarts(t *testing.T) {
	for range 20 {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s := New(&http.Server{ErrorLog: log.New(io.Discard, "", 0)})
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != http.ErrServerClosed {
			t.Fatalf("Serve returned %v", err)
		}
	}
}
