package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/testlog"
)

// replica starts an upstream replica of app. It answers with h, or with its
// own replica name when h is nil.
func replica(t testing.TB, app, name string, h http.HandlerFunc) routing.Endpoint {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return routing.Endpoint{App: app, Revision: app + "--1", Replica: name, Addr: srv.Listener.Addr().String()}
}

// goneAddr returns an address nothing listens on any more.
func goneAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func external(name string, eps ...routing.Endpoint) *routing.App {
	return &routing.App{Name: name, Ingress: &routing.Ingress{External: true, TargetPort: 8080}, Endpoints: eps}
}

func internalApp(name string, eps ...routing.Endpoint) *routing.App {
	return &routing.App{Name: name, Ingress: &routing.Ingress{External: false, TargetPort: 8000}, Endpoints: eps}
}

// testEnv is an edge serving both handlers on real listeners.
type testEnv struct {
	edge     *Edge
	routes   *routing.Source
	public   *httptest.Server
	internal *httptest.Server
}

func newEnv(t testing.TB, opts Options, apps ...*routing.App) *testEnv {
	t.Helper()
	src := &routing.Source{}
	src.Store(routing.NewTable(apps))
	opts.Routes = src
	e := New(opts)
	env := &testEnv{edge: e, routes: src}
	env.public = httptest.NewServer(e.PublicHandler())
	t.Cleanup(env.public.Close)
	env.internal = httptest.NewServer(e.InternalHandler())
	t.Cleanup(env.internal.Close)
	return env
}

func (env *testEnv) internalURL(t testing.TB) *url.URL {
	t.Helper()
	u, err := url.Parse(env.internal.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newClient returns a client that goes through proxy, or straight to the
// server when proxy is nil (never through the machine's HTTP_PROXY).
func newClient(t testing.TB, proxy *url.URL) *http.Client {
	tr := &http.Transport{}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type result struct {
	status int
	body   string
	header http.Header
}

// do sends a GET to rawURL with the given Host (if any) and extra headers.
func do(t testing.TB, c *http.Client, rawURL, host string, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %q): %v", rawURL, host, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body of %s: %v", rawURL, err)
	}
	return result{status: res.StatusCode, body: string(b), header: res.Header}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPublicRoundRobin(t *testing.T) {
	env := newEnv(t, Options{}, external("web",
		replica(t, "web", "web-a", nil),
		replica(t, "web", "web-b", nil)))
	c := newClient(t, nil)

	got := map[string]int{}
	for range 20 {
		r := do(t, c, env.public.URL, "web.localhost:8080", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d, body %q", r.status, r.body)
		}
		got[r.body]++
	}
	if diff := cmp.Diff(map[string]int{"web-a": 10, "web-b": 10}, got); diff != "" {
		t.Errorf("requests per replica (-want +got):\n%s", diff)
	}
}

// seen is what an echoing upstream reports about the request it received.
type seen struct {
	Host       string
	RequestURI string
	XFF        string
	XFProto    string
	XFHost     string
	Via        string
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	json.NewEncoder(w).Encode(seen{
		Host:       r.Host,
		RequestURI: r.RequestURI,
		XFF:        r.Header.Get("X-Forwarded-For"),
		XFProto:    r.Header.Get("X-Forwarded-Proto"),
		XFHost:     r.Header.Get("X-Forwarded-Host"),
		Via:        r.Header.Get("Via"),
	})
}

func decodeSeen(t testing.TB, r result) seen {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %q", r.status, r.body)
	}
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return s
}

func TestPublicForwardedHeaders(t *testing.T) {
	env := newEnv(t, Options{}, external("web", replica(t, "web", "web-a", echoHandler)))
	c := newClient(t, nil)

	got := decodeSeen(t, do(t, c, env.public.URL+"/path?q=1", "Web.LocalHost:8080", map[string]string{
		"X-Forwarded-Proto": "https",
		"X-Forwarded-For":   "203.0.113.7",
		"X-Forwarded-Host":  "spoofed.example",
	}))
	want := seen{
		Host:       "Web.LocalHost:8080",
		RequestURI: "/path?q=1",
		XFF:        "203.0.113.7, 127.0.0.1",
		XFProto:    "http",
		XFHost:     "Web.LocalHost:8080",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request as the app saw it (-want +got):\n%s", diff)
	}
}

func TestPublicStatuses(t *testing.T) {
	env := newEnv(t, Options{},
		external("web", replica(t, "web", "web-a", nil)),
		internalApp("api", replica(t, "api", "api-a", nil)),
		&routing.App{Name: "worker", Endpoints: []routing.Endpoint{replica(t, "worker", "worker-a", nil)}},
		external("starting"),
		external("gone", routing.Endpoint{App: "gone", Replica: "gone-a", Addr: goneAddr(t)}),
	)
	c := newClient(t, nil)

	tests := []struct {
		name       string
		host       string
		status     int
		body       []string // substrings the body must contain
		notBody    []string // substrings it must not contain
		retryAfter string
	}{
		{name: "external app", host: "web.localhost:8080", status: http.StatusOK, body: []string{"web-a"}},
		{name: "internal app", host: "api.localhost:8080", status: http.StatusNotFound, body: []string{`app "api" has internal ingress only`}, notBody: []string{"api-a"}},
		{name: "internal name", host: "api.internal.localhost:8080", status: http.StatusNotFound, body: []string{"internal name"}},
		{name: "ingress disabled", host: "worker.localhost:8080", status: http.StatusNotFound, body: []string{"ingress disabled"}},
		{name: "unknown app", host: "nope.localhost:8080", status: http.StatusNotFound, body: []string{`"nope"`}},
		{name: "other host", host: "example.com", status: http.StatusNotFound, body: []string{`"example.com"`}},
		{name: "no ready replica", host: "starting.localhost:8080", status: http.StatusServiceUnavailable, body: []string{"no ready replica"}, retryAfter: "5"},
		{name: "replica gone", host: "gone.localhost:8080", status: http.StatusBadGateway, body: []string{`app "gone" replica "gone-a" is unreachable`}},
		{
			name:    "bare localhost lists external apps",
			host:    "localhost:8080",
			status:  http.StatusNotFound,
			body:    []string{`host "localhost"`, "http://web.localhost:8080", "http://gone.localhost:8080", "http://starting.localhost:8080"},
			notBody: []string{"api", "worker"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, env.public.URL, tt.host, nil)
			if r.status != tt.status {
				t.Errorf("status = %d, want %d (body %q)", r.status, tt.status, r.body)
			}
			for _, s := range tt.body {
				if !strings.Contains(r.body, s) {
					t.Errorf("body %q does not contain %q", r.body, s)
				}
			}
			for _, s := range tt.notBody {
				if strings.Contains(r.body, s) {
					t.Errorf("body %q contains %q", r.body, s)
				}
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestListingWithoutExternalApps(t *testing.T) {
	env := newEnv(t, Options{}, internalApp("api", replica(t, "api", "api-a", nil)))
	r := do(t, newClient(t, nil), env.public.URL, "localhost", nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "no app has external ingress") {
		t.Errorf("got %d %q, want 404 saying no app has external ingress", r.status, r.body)
	}
}

func TestInternalAppPublicVersusInternal(t *testing.T) {
	env := newEnv(t, Options{}, internalApp("triage-backend", replica(t, "triage-backend", "tb-a", echoHandler)))

	if r := do(t, newClient(t, nil), env.public.URL+"/api/health", "triage-backend.localhost:8080", nil); r.status != http.StatusNotFound {
		t.Errorf("public: status %d (%q), want 404", r.status, r.body)
	}

	// Through HTTP_PROXY the request arrives in absolute form.
	got := decodeSeen(t, do(t, newClient(t, env.internalURL(t)), "http://triage-backend/api/health", "", nil))
	want := seen{Host: "triage-backend", RequestURI: "/api/health", XFF: "127.0.0.1", XFProto: "http", XFHost: "triage-backend"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("internal: request as the app saw it (-want +got):\n%s", diff)
	}
}

func TestInternalNames(t *testing.T) {
	env := newEnv(t, Options{},
		internalApp("api", replica(t, "api", "api-a", nil)),
		external("web", replica(t, "web", "web-a", nil)),
		&routing.App{Name: "worker", Endpoints: []routing.Endpoint{replica(t, "worker", "worker-a", nil)}},
	)
	proxied := newClient(t, env.internalURL(t))
	direct := newClient(t, nil)

	tests := []struct {
		name   string
		url    string
		host   string // origin-form request straight to the internal listener when set
		status int
		body   string
	}{
		{name: "short name", url: "http://api/x", status: http.StatusOK, body: "api-a"},
		{name: "short name port 80", url: "http://api:80/x", status: http.StatusOK, body: "api-a"},
		{name: "target port", url: "http://api:8000/x", status: http.StatusOK, body: "api-a"},
		{name: "internal name", url: "http://api.internal.localhost/x", status: http.StatusOK, body: "api-a"},
		{name: "domain name", url: "http://API.localhost/x", status: http.StatusOK, body: "api-a"},
		{name: "external app", url: "http://web/x", status: http.StatusOK, body: "web-a"},
		{name: "public url with edge port", url: "http://web.localhost:8080/x", status: http.StatusOK, body: "web-a"},
		{name: "other port", url: "http://api:9000/x", status: http.StatusNotFound, body: "does not expose port 9000"},
		{name: "ingress disabled", url: "http://worker/x", status: http.StatusNotFound, body: "ingress disabled"},
		{name: "unknown under domain", url: "http://nope.internal.localhost/x", status: http.StatusNotFound, body: `no app named "nope"`},
		{name: "origin form", host: "api", status: http.StatusOK, body: "api-a"},
		{name: "origin form internal name", host: "api.internal.localhost:80", status: http.StatusOK, body: "api-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r result
			if tt.host != "" {
				r = do(t, direct, env.internal.URL+"/x", tt.host, nil)
			} else {
				r = do(t, proxied, tt.url, "", nil)
			}
			if r.status != tt.status || !strings.Contains(r.body, tt.body) {
				t.Errorf("got %d %q, want %d containing %q", r.status, r.body, tt.status, tt.body)
			}
		})
	}
}

// outsideIP is an address of this machine other than loopback, where test
// servers stand for hosts elsewhere; without one the test is skipped.
func outsideIP(t testing.TB) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no address other than loopback to stand for another host")
	return ""
}

// outsideServer is a test server on outsideIP, started with TLS when tls.
func outsideServer(t testing.TB, h http.Handler, tls bool) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(outsideIP(t), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestForwardProxy(t *testing.T) {
	outside := outsideServer(t, http.HandlerFunc(echoHandler), false)
	local := httptest.NewServer(http.HandlerFunc(echoHandler))
	t.Cleanup(local.Close)
	env := newEnv(t, Options{}, internalApp("api", replica(t, "api", "api-a", nil)))
	_, port, _ := net.SplitHostPort(local.Listener.Addr().String())
	// The local server stands for a replica's or a sidecar's port.
	env.routes.Store(env.routes.Load().WithLocalPorts([]int{mustAtoi(t, port)}))
	c := newClient(t, env.internalURL(t))

	tests := []struct {
		name string
		url  string
		host string
	}{
		{name: "another host", url: outside.URL + "/p?q=1", host: outside.Listener.Addr().String()},
		{name: "loopback ip of an environment port", url: local.URL + "/p?q=1", host: "127.0.0.1:" + port},
		{name: "localhost at an environment port", url: "http://localhost:" + port + "/p?q=1", host: "localhost:" + port},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeSeen(t, do(t, c, tt.url, "", map[string]string{"X-Forwarded-For": "10.1.2.3"}))
			if !strings.HasPrefix(got.Via, "1.1 cove-") {
				t.Errorf("Via = %q, want this edge's pseudonym", got.Via)
			}
			got.Via = ""
			// A forward proxy is transparent: the caller's headers pass as they were.
			want := seen{Host: tt.host, RequestURI: "/p?q=1", XFF: "10.1.2.3"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request as the server saw it (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForwardProxyErrors(t *testing.T) {
	env := newEnv(t, Options{})
	direct := newClient(t, nil)

	// A request that came back through this proxy would loop forever.
	if r := do(t, direct, env.internal.URL, "example.test", map[string]string{"Via": "1.1 " + env.edge.via}); r.status != http.StatusLoopDetected {
		t.Errorf("looped request: status %d (%q), want 508", r.status, r.body)
	}
	// The proxy itself, like any port of this machine that is not the
	// environment's, is not forwarded to.
	self := strings.TrimPrefix(env.internal.URL, "http://")
	if r := do(t, direct, env.internal.URL, self, nil); r.status != http.StatusForbidden {
		t.Errorf("self host: status %d (%q), want 403", r.status, r.body)
	}
	for _, host := range []string{goneAddr(t), "localhost:" + portOf(t, goneAddr(t)), "0.0.0.0:" + portOf(t, self)} {
		r := do(t, newClient(t, env.internalURL(t)), "http://"+host+"/", "", nil)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "on this machine") {
			t.Errorf("local host %s: got %d %q, want 403 explaining it", host, r.status, r.body)
		}
	}

	gone := outsideIP(t) + ":" + portOf(t, goneAddr(t))
	r := do(t, newClient(t, env.internalURL(t)), "http://"+gone+"/", "", nil)
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, "not an app of this environment") {
		t.Errorf("unreachable host: got %d %q, want 502 explaining it", r.status, r.body)
	}
}

func portOf(t testing.TB, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestConnectTunnel(t *testing.T) {
	outside := outsideServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.URL.Path)
	}), true)
	env := newEnv(t, Options{}, internalApp("api", replica(t, "api", "api-a", nil)))
	local := replica(t, "api", "api-b", nil)
	env.routes.Store(env.routes.Load().WithLocalPorts([]int{mustAtoi(t, portOf(t, local.Addr))}))

	t.Run("https through the proxy", func(t *testing.T) {
		tlsConfig := outside.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tlsConfig.ServerName = "example.com" // httptest's certificate names it, not the outside address
		tr := &http.Transport{
			Proxy:           http.ProxyURL(env.internalURL(t)),
			TLSClientConfig: tlsConfig,
		}
		t.Cleanup(tr.CloseIdleConnections)
		r := do(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, outside.URL+"/x", "", nil)
		if r.status != http.StatusOK || r.body != "secure /x" {
			t.Errorf("got %d %q, want 200 %q", r.status, r.body, "secure /x")
		}
	})

	tests := []struct {
		name   string
		target string
		status int
	}{
		{name: "app by name", target: "api:80", status: http.StatusOK},
		{name: "unknown app under domain", target: "nope.internal.localhost:80", status: http.StatusNotFound},
		{name: "unreachable host", target: outsideIP(t) + ":" + portOf(t, goneAddr(t)), status: http.StatusBadGateway},
		// No tunnel to this machine, an environment port (a sidecar's,
		// say) included; TCP apps are reached by name.
		{name: "loopback", target: goneAddr(t), status: http.StatusForbidden},
		{name: "environment port", target: local.Addr, status: http.StatusForbidden},
		{name: "localhost", target: "localhost:" + portOf(t, local.Addr), status: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, br := connect(t, env.internal.Listener.Addr().String(), tt.target)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read CONNECT response: %v", err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("CONNECT %s: status %d, want %d", tt.target, res.StatusCode, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			// The tunnel reaches the replica: speak HTTP to it directly.
			fmt.Fprintf(conn, "GET /inside HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
			res, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read response through tunnel: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || string(b) != "api-a" {
				t.Errorf("through tunnel: %d %q, want 200 %q", res.StatusCode, b, "api-a")
			}
		})
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// connect dials proxyAddr and sends CONNECT target.
func connect(t testing.TB, proxyAddr, target string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	return conn, bufio.NewReader(conn)
}

func TestWebSocketUpgrade(t *testing.T) {
	// The upstream completes a WebSocket-style upgrade, then echoes one line
	// in upper case: enough to prove both directions flow after the 101.
	ws := replica(t, "chat", "chat-a", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		brw.WriteString(strings.ToUpper(line))
		brw.Flush()
	})
	env := newEnv(t, Options{}, external("chat", ws))

	conn, err := net.Dial("tcp", env.public.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: chat.localhost:8080\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("upgrade: status %d, Upgrade %q; want 101 websocket", res.StatusCode, res.Header.Get("Upgrade"))
	}
	io.WriteString(conn, "hello edge\n")
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read echoed frame: %v", err)
	}
	if line != "HELLO EDGE\n" {
		t.Errorf("echo = %q, want %q", line, "HELLO EDGE\n")
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := replica(t, "slow", "slow-a", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the replica's Close
	env := newEnv(t, Options{RequestTimeout: 100 * time.Millisecond}, external("slow", slow))

	r := do(t, newClient(t, nil), env.public.URL, "slow.localhost", nil)
	if r.status != http.StatusGatewayTimeout || !strings.Contains(r.body, "did not answer within 100ms") {
		t.Errorf("got %d %q, want 504 naming the timeout", r.status, r.body)
	}
}

// TestStreaming checks that what an app writes reaches the caller at once,
// whatever the response type, and that a response may outlast the request
// timeout once it has started.
func TestStreaming(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name   string
		header map[string]string
	}{
		{name: "event stream", header: map[string]string{"Content-Type": "text/event-stream"}},
		// Only an always-flushing proxy passes this one on early.
		{name: "known length", header: map[string]string{"Content-Type": "application/octet-stream", "Content-Length": "27"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotFirst := make(chan struct{})
			up := replica(t, "feed", "feed-a", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				io.WriteString(w, "data: one\n\n")
				http.NewResponseController(w).Flush()
				select {
				case <-gotFirst:
				case <-r.Context().Done():
					return
				}
				// Outlast the edge's request timeout on purpose.
				<-time.After(3 * timeout)
				io.WriteString(w, "data: two-long\n\n")
			})
			env := newEnv(t, Options{RequestTimeout: timeout}, external("feed", up))

			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, env.public.URL, nil)
			req.Host = "feed.localhost"
			res, err := newClient(t, nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			first, err := br.ReadString('\n')
			if err != nil || first != "data: one\n" {
				t.Fatalf("first event = %q, %v; want %q", first, err, "data: one\n")
			}
			close(gotFirst)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("rest of stream: %v", err)
			}
			if string(rest) != "\ndata: two-long\n\n" {
				t.Errorf("rest of stream = %q", rest)
			}
		})
	}
}

func TestTableSwap(t *testing.T) {
	a := replica(t, "web", "web-a", nil)
	b := replica(t, "web", "web-b", nil)
	env := newEnv(t, Options{}, external("web", a))
	c := newClient(t, nil)

	steps := []struct {
		name   string
		apps   []*routing.App
		status int
		body   string
	}{
		{name: "initial", status: http.StatusOK, body: "web-a"},
		{name: "replica replaced", apps: []*routing.App{external("web", b)}, status: http.StatusOK, body: "web-b"},
		{name: "made internal", apps: []*routing.App{internalApp("web", b)}, status: http.StatusNotFound, body: "internal ingress only"},
		{name: "removed", apps: []*routing.App{}, status: http.StatusNotFound, body: `no app named "web"`},
	}
	for _, s := range steps {
		if s.apps != nil {
			env.routes.Store(routing.NewTable(s.apps))
		}
		r := do(t, c, env.public.URL, "web.localhost", nil)
		if r.status != s.status || !strings.Contains(r.body, s.body) {
			t.Errorf("%s: got %d %q, want %d containing %q", s.name, r.status, r.body, s.status, s.body)
		}
	}
}

func TestPublicRefusesConnect(t *testing.T) {
	env := newEnv(t, Options{}, external("web", replica(t, "web", "web-a", nil)))
	_, br := connect(t, env.public.Listener.Addr().String(), "web.localhost:80")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("status %d, want 405", res.StatusCode)
	}
}

func TestDebugLog(t *testing.T) {
	var buf testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := newEnv(t, Options{Logger: logger}, external("web", replica(t, "web", "web-a", nil)))
	do(t, newClient(t, nil), env.public.URL+"/hi", "web.localhost", nil)

	// The line is written when the handler returns, which may be just after
	// the client has its response.
	eventually(t, "the request's log line", func() bool { return strings.Contains(buf.String(), "msg=\"edge request\"") })
	line := buf.String()
	for _, want := range []string{"app=web", "replica=web-a", "status=200", "path=/hi", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	e := New(Options{Domain: "Env.Test."})
	if e.domain != "env.test" || e.timeout != DefaultRequestTimeout {
		t.Errorf("domain %q timeout %s, want env.test and %s", e.domain, e.timeout, DefaultRequestTimeout)
	}
	// No routes at all: every host is unknown, nothing panics.
	rec := httptest.NewRecorder()
	e.PublicHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://web.env.test/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", rec.Code)
	}
}

func TestUpstreamKeepAlive(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	env := newEnv(t, Options{}, external("web", routing.Endpoint{App: "web", Replica: "web-a", Addr: up.Listener.Addr().String()}))
	c := newClient(t, nil)

	for range 20 {
		if r := do(t, c, env.public.URL, "web.localhost", nil); r.status != http.StatusOK {
			t.Fatalf("status %d %q", r.status, r.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("upstream saw %d connections for 20 sequential requests, want 1 kept alive", conns)
	}
}

func TestHeaderCountLimit(t *testing.T) {
	up := replica(t, "web", "web-a", nil)
	env := newEnv(t, Options{}, external("web", up))
	c := newClient(t, nil)
	headers := func(n int) map[string]string {
		h := map[string]string{}
		// Host, User-Agent and Accept-Encoding come with every request.
		for i := range n - 3 {
			h[fmt.Sprintf("X-H%d", i)] = "v"
		}
		return h
	}
	tests := []struct {
		name   string
		base   string
		n      int
		status int
	}{
		{name: "public at the limit", base: env.public.URL, n: maxHeaderCount, status: http.StatusOK},
		{name: "public over the limit", base: env.public.URL, n: maxHeaderCount + 1, status: http.StatusRequestHeaderFieldsTooLarge},
		{name: "internal over the limit", base: env.internal.URL, n: maxHeaderCount + 1, status: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, c, tc.base+"/", "web.localhost", headers(tc.n)); got.status != tc.status {
				t.Errorf("%d header fields: status %d, want %d (%s)", tc.n, got.status, tc.status, got.body)
			}
		})
	}
}
