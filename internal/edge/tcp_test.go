package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/testaddr"
)

// tcpReplica starts a TCP server that reads until the client half-closes,
// then answers "<name>:<what it read>" and closes. It returns its address.
func tcpReplica(t testing.TB, name string) string {
	t.Helper()
	return testaddr.Serve(t, func(c net.Conn) {
		if b, err := io.ReadAll(c); err == nil {
			fmt.Fprintf(c, "%s:%s", name, b)
		}
	})
}

// serveTCP runs ServeTCP for p on a fresh loopback listener and returns
// its address.
func serveTCP(t testing.TB, e *Edge, p TCPPort) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.ServeTCP(ctx, ln, p) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	})
	return ln.Addr().String()
}

// exchange dials addr, sends msg, half-closes and reads the whole answer.
// A refused connection reads as "" (the edge closes it without a byte).
func exchange(t testing.TB, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil && !errors.Is(err, net.ErrClosed) {
		// The edge may have closed a refused connection already.
		return ""
	}
	_ = c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

func tcpApp(name string, in *routing.Ingress, eps ...routing.Endpoint) *routing.App {
	return &routing.App{Name: name, Ingress: in, Endpoints: eps}
}

func TestServeTCP(t *testing.T) {
	a, b := tcpReplica(t, "a"), tcpReplica(t, "b")
	extra := tcpReplica(t, "extra")
	tests := []struct {
		name string
		in   routing.Ingress
		eps  []routing.Endpoint
		port int
		// inside serves the port to callers inside the environment, on
		// the app's own address.
		inside bool
		want   []string
	}{
		{
			name: "echo through the exposed port, round robin",
			in:   routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 15432},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a}, {Replica: "r2", Addr: b}},
			port: 15432,
			want: []string{"a:ping", "b:ping", "a:ping", "b:ping"},
		},
		{
			name: "only ready replicas are in the table",
			in:   routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			eps:  []routing.Endpoint{{Replica: "r2", Addr: b}},
			port: 5432,
			want: []string{"b:ping", "b:ping", "b:ping"},
		},
		{
			name: "a replica that refuses is skipped",
			in:   routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: goneAddr(t)}, {Replica: "r2", Addr: b}},
			port: 5432,
			want: []string{"b:ping", "b:ping", "b:ping"},
		},
		{
			name: "no ready replica closes the connection",
			in:   routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			port: 5432,
			want: []string{""},
		},
		{
			name: "ip deny list refuses the client",
			in: routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432,
				IPRules: &routing.IPRules{Allow: false, Ranges: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a}},
			port: 5432,
			want: []string{"", ""},
		},
		{
			name: "ip allow list admits the client",
			in: routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432,
				IPRules: &routing.IPRules{Allow: true, Ranges: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a}},
			port: 5432,
			want: []string{"a:ping"},
		},
		{
			name: "internal tcp app is not served on the edge",
			in:   routing.Ingress{External: false, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a}},
			port: 5432,
			want: []string{""},
		},
		{
			name: "external additional port of an http app reaches the replica's port for it",
			in: routing.Ingress{External: true, TargetPort: 8080, AdditionalPorts: []routing.PortMapping{
				{External: false, TargetPort: 9000, ExposedPort: 9000},
				{External: true, TargetPort: 9090, ExposedPort: 19090},
			}},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a, Ports: map[int]string{9000: b, 9090: extra}}},
			port: 19090,
			want: []string{"extra:ping"},
		},
		{
			name: "internal additional port is not served on the edge",
			in: routing.Ingress{External: true, TargetPort: 8080, AdditionalPorts: []routing.PortMapping{
				{External: false, TargetPort: 9000, ExposedPort: 9000},
			}},
			eps:  []routing.Endpoint{{Replica: "r1", Addr: a, Ports: map[int]string{9000: b}}},
			port: 9000,
			want: []string{""},
		},
		{
			name:   "inside, an internal tcp app is served",
			in:     routing.Ingress{External: false, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			eps:    []routing.Endpoint{{Replica: "r1", Addr: a}},
			port:   5432,
			inside: true,
			want:   []string{"a:ping"},
		},
		{
			name: "inside, an internal additional port is served",
			in: routing.Ingress{External: true, TargetPort: 8080, AdditionalPorts: []routing.PortMapping{
				{External: false, TargetPort: 9000, ExposedPort: 9000},
			}},
			eps:    []routing.Endpoint{{Replica: "r1", Addr: a, Ports: map[int]string{9000: b}}},
			port:   9000,
			inside: true,
			want:   []string{"b:ping"},
		},
		{
			name: "inside, ip rules do not apply, as through the internal proxy",
			in: routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432,
				IPRules: &routing.IPRules{Allow: false, Ranges: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
			eps:    []routing.Endpoint{{Replica: "r1", Addr: a}},
			port:   5432,
			inside: true,
			want:   []string{"a:ping"},
		},
		{
			name:   "inside, a port the app does not expose is closed",
			in:     routing.Ingress{External: false, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432},
			eps:    []routing.Endpoint{{Replica: "r1", Addr: a}},
			port:   5433,
			inside: true,
			want:   []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			env := newEnv(t, Options{}, tcpApp("db", &in, tt.eps...))
			addr := serveTCP(t, env.edge, TCPPort{App: "db", Port: tt.port, Inside: tt.inside})
			var got []string
			for range tt.want {
				got = append(got, exchange(t, addr, "ping"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServeTCPFollowsTable checks that a port taken away from an app in a
// new table refuses new connections while the listener is still open.
func TestServeTCPFollowsTable(t *testing.T) {
	a := tcpReplica(t, "a")
	in := &routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 5432}
	env := newEnv(t, Options{}, tcpApp("db", in, routing.Endpoint{Replica: "r1", Addr: a}))
	addr := serveTCP(t, env.edge, TCPPort{App: "db", Port: 5432})
	if got := exchange(t, addr, "x"); got != "a:x" {
		t.Fatalf("before: got %q", got)
	}
	internal := *in
	internal.External = false
	env.routes.Store(routing.NewTable([]*routing.App{tcpApp("db", &internal, routing.Endpoint{Replica: "r1", Addr: a})}))
	if got := exchange(t, addr, "x"); got != "" {
		t.Fatalf("after external: false: got %q, want a closed connection", got)
	}
}

// holdReplica echoes every connection until the client closes it.
func holdReplica(t testing.TB) string {
	t.Helper()
	return testaddr.Serve(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

func TestServeTCPLimits(t *testing.T) {
	up := holdReplica(t)
	in := &routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 7000, ExposedPort: 7000}
	t.Run("connection limit", func(t *testing.T) {
		env := newEnv(t, Options{TCPMaxConns: 1}, tcpApp("kv", in, routing.Endpoint{Replica: "r1", Addr: up}))
		addr := serveTCP(t, env.edge, TCPPort{App: "kv", Port: 7000})
		first, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		// A round trip proves the first connection holds the only slot.
		if got := roundTrip(t, first, "one\n"); got != "one\n" {
			t.Fatalf("first connection answered %q", got)
		}
		if got := exchange(t, addr, "two\n"); got != "" {
			t.Fatalf("second connection answered %q; want it closed at the limit", got)
		}
		first.Close()
		// Once the slot is free, a connection gets through again.
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, "three\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "three\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no connection got through after the first one closed")
			}
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		env := newEnv(t, Options{TCPIdleTimeout: 400 * time.Millisecond}, tcpApp("kv", in, routing.Endpoint{Replica: "r1", Addr: up}))
		addr := serveTCP(t, env.edge, TCPPort{App: "kv", Port: 7000})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Traffic keeps the connection open past the idle timeout...
		for i := range 6 {
			msg := strconv.Itoa(i) + "\n"
			if got := roundTrip(t, c, msg); got != msg {
				t.Fatalf("round trip %d answered %q", i, got)
			}
			time.Sleep(100 * time.Millisecond) // less than the idle timeout between messages
		}
		// ...and silence closes it.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || (err != io.EOF && !isReset(err)) {
			t.Fatalf("idle connection: read %d bytes, err %v; want it closed by the edge", n, err)
		}
	})
}

func roundTrip(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return line
}

// TestInternalTCP reaches TCP ports through the internal proxy with
// CONNECT <app>:<port>, as a client behind HTTP_PROXY does.
func TestInternalTCP(t *testing.T) {
	a, extra := tcpReplica(t, "a"), tcpReplica(t, "extra")
	web := replica(t, "web", "web-1", nil)
	extraHTTP := replica(t, "web", "web-1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "extra http "+r.URL.Path) })
	web.Ports = map[int]string{9000: extra, 9200: extraHTTP.Addr}
	env := newEnv(t, Options{},
		tcpApp("db", &routing.Ingress{External: false, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 15432},
			routing.Endpoint{Replica: "db-1", Addr: a}),
		tcpApp("web", &routing.Ingress{External: true, TargetPort: 8080, AdditionalPorts: []routing.PortMapping{
			{External: false, TargetPort: 9000, ExposedPort: 19000},
			{External: false, TargetPort: 9200, ExposedPort: 19200},
		}}, web),
	)
	proxy := env.internal.Listener.Addr().String()
	tests := []struct {
		name      string
		authority string
		status    int
		want      string
	}{
		{name: "internal tcp app by exposed port", authority: "db:15432", status: 200, want: "a:ping"},
		{name: "internal name", authority: "db.internal.localhost:15432", status: 200, want: "a:ping"},
		{name: "tcp app on another port", authority: "db:5433", status: 404},
		{name: "tcp app on port 80", authority: "db:80", status: 404},
		{name: "additional internal port", authority: "web:19000", status: 200, want: "extra:ping"},
		{name: "port no mapping exposes", authority: "web:19001", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", tt.authority, tt.authority)
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("CONNECT %s: status %d, want %d", tt.authority, res.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			io.WriteString(c, "ping")
			_ = c.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(br)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("through the tunnel: got %q, want %q", b, tt.want)
			}
		})
	}
	t.Run("plain http to an additional port", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(env.internalURL(t))}, Timeout: 10 * time.Second}
		r := do(t, c, "http://web:19200/p", "", nil)
		if r.status != http.StatusOK || r.body != "extra http /p" {
			t.Errorf("got %d %q, want 200 %q", r.status, r.body, "extra http /p")
		}
	})
}

// TestLeastOutstanding checks that the edge sends new requests to the
// replica with the fewest requests in flight: a replica that holds every
// request gets one while a fast one gets the rest.
func TestLeastOutstanding(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	slow := replica(t, "web", "slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	})
	fast := replica(t, "web", "fast", nil)
	env := newEnv(t, Options{}, external("web", slow, fast))

	const n = 20
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	defer func() {
		close(release)
		wg.Wait()
	}()
	fastDone := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, env.public.URL+"/", nil)
			req.Host = "web.localhost"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			mu.Lock()
			counts[string(b)]++
			mu.Unlock()
			if string(b) == "fast" {
				fastDone <- struct{}{}
			}
		})
		// One request at a time: wait until it reached the slow replica or
		// came back from the fast one.
		select {
		case <-arrived:
		case <-fastDone:
		case <-time.After(10 * time.Second):
			t.Fatal("a request neither reached the slow replica nor came back")
		}
	}
	mu.Lock()
	gotFast := counts["fast"]
	mu.Unlock()
	if gotFast < n-1 {
		t.Errorf("fast replica answered %d of %d requests; want at least %d (round robin would give %d)", gotFast, n, n-1, n/2)
	}
}
