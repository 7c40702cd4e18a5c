package control

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/testaddr"
)

// With COVE_TEST_EDGE_APP set, the test binary is an app for the ingress
// tests: "http" serves /env, /hold (answers once /release is called) and
// /held on $PORT; "tcp" serves a TCP echo on $PORT. Either way every
// PORT_<target> gets a TCP echo. An echo reads until the client
// half-closes, then answers "<name>:<what it read>".
func init() {
	runAsLauncher()
	mode := os.Getenv("COVE_TEST_EDGE_APP")
	if mode == "" {
		return
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if target, ok := strings.CutPrefix(k, ExtraPortEnvPrefix); ok {
			go tcpEcho(v, target)
		}
	}
	// COVE_TEST_TOUCH and COVE_TEST_WAIT_FOR make a replica that is ready
	// only once another has started: it creates the first file, then
	// listens once the second exists.
	if p := os.Getenv("COVE_TEST_TOUCH"); p != "" {
		_ = os.WriteFile(p, nil, 0o644)
	}
	if p := os.Getenv("COVE_TEST_WAIT_FOR"); p != "" {
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if mode == "tcp" {
		tcpEcho(os.Getenv("PORT"), "main")
		os.Exit(0)
	}
	var held sync.WaitGroup
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	holding := 0
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		_ = json.NewEncoder(w).Encode(env)
	})
	// /dial?addr=host:port&msg=m does a TCP echo exchange from inside
	// the replica, resolving host as the replica does.
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.FormValue("addr"), 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, r.FormValue("msg"))
		_ = c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Write(b)
	})
	// /fetch?url=u GETs u from inside the replica without a proxy, as
	// clients that ignore HTTP_PROXY do.
	http.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
		res, err := c.Get(r.FormValue("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	})
	http.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		defer held.Done()
		mu.Lock()
		holding++
		mu.Unlock()
		<-release
		io.WriteString(w, "finished")
	})
	http.HandleFunc("/held", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, holding)
	})
	http.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(release) })
	})
	_ = http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
	os.Exit(0)
}

func tcpEcho(port, name string) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(3)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b, err := io.ReadAll(c)
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s:%s", name, b)
		}()
	}
}

// runEnv writes files into dir, runs the environment of dir/cove.yaml and
// returns its status once every replica is ready. The environment stops
// when the test ends.
func runEnv(t *testing.T, dir string, files map[string]string) *Status {
	t.Helper()
	return runEnvWith(t, dir, files, Options{})
}

// runEnvWith is runEnv with options; it sets their Spec and ports, wraps
// their Events, and sets a StopGrace of 5s unless they give one.
func runEnvWith(t *testing.T, dir string, files map[string]string, opts Options) *Status {
	t.Helper()
	for name, content := range files {
		write(t, dir, name, content)
	}
	env, err := Load(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan *Status, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts.Spec, opts.HTTPPort, opts.HTTPSPort = env, testaddr.FreePort(t), testaddr.FreePort(t)
	if opts.Launcher == nil {
		// As cove up does: replicas resolve the apps' names.
		opts.Launcher = []string{testExe(t), launcherArg}
	}
	opts.StopGrace = cmpOr(opts.StopGrace, 5*time.Second)
	events := opts.Events
	opts.Events = func(ev Event) {
		if events != nil {
			events(ev)
		}
		if ev.Kind == EventReady {
			ready <- ev.Status
		}
	}
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of cancel")
		}
	})
	select {
	case st := <-ready:
		return st
	case err := <-done:
		done <- nil // for the cleanup, which waits for Run to return
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not ready within 60s")
	}
	return nil
}

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// tcpExchange sends msg on a new connection, half-closes and reads the
// answer; "" when the connection is refused or closed without one.
func tcpExchange(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	return halfCloseExchange(t, c, bufio.NewReader(c), msg)
}

func halfCloseExchange(t *testing.T, c net.Conn, br *bufio.Reader, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return ""
	}
	_ = c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(br)
	return string(b)
}

// connectExchange goes through the internal proxy with CONNECT authority,
// as an app behind HTTP_PROXY does; "" when the proxy refuses.
func connectExchange(t *testing.T, proxy, authority, msg string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", authority, err)
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, ""
	}
	return res.StatusCode, halfCloseExchange(t, c, br, msg)
}

// TestTCPIngress runs TCP apps and an HTTP app with additional ports as
// processes and reaches them the ways ACA offers: external ports on the
// edge's address, internal ones only through the internal proxy.
func TestTCPIngress(t *testing.T) {
	exe := testExe(t)
	dbPort, extPort, queuePort := testaddr.FreePort(t), testaddr.FreePort(t), testaddr.FreePort(t)
	dir := t.TempDir()
	st := runEnv(t, dir, map[string]string{
		"db.yaml": fmt.Sprintf(`
name: db
properties:
  configuration:
    ingress: {external: true, transport: tcp, targetPort: 5432, exposedPort: %d}
  template:
    containers: [{name: db, image: db}]
    scale: {minReplicas: 2, maxReplicas: 2}
`, dbPort),
		"queue.yaml": fmt.Sprintf(`
name: queue
properties:
  configuration:
    ingress: {external: false, transport: tcp, targetPort: 6000, exposedPort: %d}
  template:
    containers: [{name: queue, image: queue}]
`, queuePort),
		"web.yaml": fmt.Sprintf(`
name: web
properties:
  configuration:
    ingress:
      external: true
      allowInsecure: true
      targetPort: 8000
      additionalPortMappings:
        - {external: true, targetPort: 9000, exposedPort: %d}
        - {external: false, targetPort: 9100}
  template:
    containers: [{name: web, image: web}]
`, extPort),
		"cove.yaml": fmt.Sprintf(`
apps:
  - {file: db.yaml, command: [%[1]q], env: {COVE_TEST_EDGE_APP: tcp}}
  - {file: queue.yaml, command: [%[1]q], env: {COVE_TEST_EDGE_APP: tcp}}
  - {file: web.yaml, command: [%[1]q], env: {COVE_TEST_EDGE_APP: http}}
`, exe),
	})
	edgeHost, _, _ := net.SplitHostPort(st.Edge.HTTP)
	at := func(port int) string { return net.JoinHostPort(edgeHost, strconv.Itoa(port)) }

	t.Run("external tcp app on its exposed port", func(t *testing.T) {
		for i := range 4 {
			if got := tcpExchange(t, at(dbPort), "ping"+strconv.Itoa(i)); got != "main:ping"+strconv.Itoa(i) {
				t.Errorf("exchange %d: got %q", i, got)
			}
		}
	})
	t.Run("internal tcp app is not on the edge", func(t *testing.T) {
		if got := tcpExchange(t, at(queuePort), "ping"); got != "" {
			t.Errorf("reached an internal TCP app from outside: %q", got)
		}
	})
	t.Run("from inside through the proxy", func(t *testing.T) {
		tests := []struct {
			name      string
			authority string
			status    int
			want      string
		}{
			{name: "internal tcp app", authority: fmt.Sprintf("queue:%d", queuePort), status: 200, want: "main:ping"},
			{name: "external tcp app", authority: fmt.Sprintf("db:%d", dbPort), status: 200, want: "main:ping"},
			{name: "internal additional port", authority: "web:9100", status: 200, want: "9100:ping"},
			{name: "external additional port", authority: fmt.Sprintf("web.internal.localhost:%d", extPort), status: 200, want: "9000:ping"},
			{name: "port not exposed", authority: "queue:6001", status: 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, got := connectExchange(t, st.Edge.Internal, tt.authority, "ping")
				if status != tt.status || got != tt.want {
					t.Errorf("CONNECT %s: %d %q, want %d %q", tt.authority, status, got, tt.status, tt.want)
				}
			})
		}
	})
	t.Run("from inside by name", func(t *testing.T) {
		tests := []struct {
			addr string
			want string
		}{
			{addr: fmt.Sprintf("queue:%d", queuePort), want: "main:ping"},
			{addr: fmt.Sprintf("db:%d", dbPort), want: "main:ping"},
			{addr: "web:9100", want: "9100:ping"},
			{addr: fmt.Sprintf("web:%d", extPort), want: "9000:ping"},
			{addr: fmt.Sprintf("queue.internal.localhost:%d", queuePort), want: "main:ping"},
		}
		for _, tt := range tests {
			t.Run(tt.addr, func(t *testing.T) {
				status, got := edgeGet(t, st.Edge.HTTP, "web.localhost", "/dial?msg=ping&addr="+neturl.QueryEscape(tt.addr), nil)
				if status != 200 || got != tt.want {
					t.Errorf("dial %s from web: %d %q, want %q", tt.addr, status, got, tt.want)
				}
			})
		}
		// A port the app does not expose is closed, as in ACA.
		if status, got := edgeGet(t, st.Edge.HTTP, "web.localhost", "/dial?msg=ping&addr="+neturl.QueryEscape("queue:6001"), nil); status != http.StatusBadGateway || !strings.Contains(got, "refused") {
			t.Errorf("dial queue:6001 from web: %d %q, want connection refused", status, got)
		}
	})
	t.Run("http by name without the proxy", func(t *testing.T) {
		if !canBindLowPorts() {
			t.Skip("serving http://<app> on apps' own addresses takes port 80, which this user may not bind")
		}
		for _, u := range []string{"http://web/held", "https://web/held", "http://web.internal.localhost/held"} {
			status, got := edgeGet(t, st.Edge.HTTP, "web.localhost", "/fetch?url="+neturl.QueryEscape(u), nil)
			if status != 200 || got != "0" {
				t.Errorf("GET %s from web: %d %q, want 200 \"0\"", u, status, got)
			}
		}
		// A TCP app has no HTTP ingress: its name answers 404 saying so.
		status, got := edgeGet(t, st.Edge.HTTP, "web.localhost", "/fetch?url="+neturl.QueryEscape("http://queue/"), nil)
		if status != http.StatusNotFound || !strings.Contains(got, "transport tcp") {
			t.Errorf("GET http://queue/ from web: %d %q", status, got)
		}
	})
	t.Run("additional port mapping", func(t *testing.T) {
		if got := tcpExchange(t, at(extPort), "ping"); got != "9000:ping" {
			t.Errorf("external additional port: got %q", got)
		}
		env := appEnv(t, st.Edge.HTTP, "web")
		for _, target := range []string{"9000", "9100"} {
			p, err := strconv.Atoi(env["PORT_"+target])
			if err != nil || p == 0 || strconv.Itoa(p) == env["PORT"] {
				t.Errorf("PORT_%s = %q (PORT %s): want a port of its own", target, env["PORT_"+target], env["PORT"])
			}
		}
	})
	t.Run("status", func(t *testing.T) {
		cur, err := NewClient(filepath.Join(dir, "cove.yaml")).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		urls := map[string][]string{}
		for _, a := range cur.Apps {
			urls[a.Name] = append([]string{a.URL}, a.URLs...)
		}
		// web allows insecure traffic: it answers on HTTP and HTTPS.
		web := fmt.Sprintf("http://web.localhost:%s", portOf(st.Edge.HTTP))
		want := map[string][]string{
			"db":    {"tcp://" + at(dbPort), "tcp://" + at(dbPort)},
			"queue": {fmt.Sprintf("tcp://queue:%d", queuePort), fmt.Sprintf("tcp://queue:%d", queuePort)},
			"web":   {web, web, fmt.Sprintf("https://web.localhost:%s", portOf(st.Edge.HTTPS))},
		}
		if diff := cmp.Diff(want, urls); diff != "" {
			t.Errorf("app URLs (-want +got):\n%s", diff)
		}
	})
}

// canBindLowPorts reports whether this process may listen on ports below
// 1024.
func canBindLowPorts() bool {
	if os.Geteuid() == 0 {
		return true
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return false
	}
	start, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && start <= 80
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// appEnv fetches /env of app through the public edge.
func appEnv(t *testing.T, edge, app string) map[string]string {
	t.Helper()
	code, body := edgeGet(t, edge, app+".localhost", "/env", nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s/env: %d %s", app, code, body)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	return env
}

func edgeGet(t *testing.T, edge, host, path string, hdr http.Header) (int, string) {
	t.Helper()
	return edgeDo(t, http.MethodGet, edge, host, path, hdr)
}

func edgeDo(t *testing.T, method, edge, host, path string, hdr http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+edge+path, nil)
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	noRedirect := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// selfSigned writes a self-signed certificate for name and its key.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestCustomDomains serves an app's custom domains by SNI, one with the
// certificate cove.yaml gives and one with a certificate from the
// environment CA, checked with curl as a user would.
func TestCustomDomains(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	exe := testExe(t)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, "shop.example.test")
	st := runEnv(t, dir, map[string]string{
		"web.yaml": `
name: web
properties:
  configuration:
    ingress:
      external: true
      targetPort: 8000
      customDomains:
        - name: shop.example.test
          bindingType: SniEnabled
          certificateId: /subscriptions/0000/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env/certificates/shop-cert
        - name: api.example.test
          bindingType: SniEnabled
          certificateId: api-cert
  template:
    containers: [{name: web, image: web}]
`,
		"cove.yaml": fmt.Sprintf(`
apps:
  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}
certificates:
  - {name: shop-cert, certFile: %q, keyFile: %q}
`, exe, filepath.Base(certFile), filepath.Base(keyFile)),
	})
	httpsPort := portOf(st.Edge.HTTPS)
	caFile := filepath.Join(dir, StateDirName, security.DirName, security.CertFile)
	tests := []struct {
		name   string
		domain string
		cacert string
	}{
		{name: "certificate from cove.yaml", domain: "shop.example.test", cacert: certFile},
		{name: "certificate from the environment CA", domain: "api.example.test", cacert: caFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fmt.Sprintf("https://%s:%s/env", tt.domain, httpsPort)
			out, err := exec.CommandContext(t.Context(), curl, "-sS", "--fail", "--max-time", "10",
				"--resolve", fmt.Sprintf("%s:%s:127.0.0.1", tt.domain, httpsPort), "--cacert", tt.cacert, url).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", url, err, out)
			}
			var env map[string]string
			if err := json.Unmarshal(out, &env); err != nil || env["CONTAINER_APP_NAME"] != "web" {
				t.Errorf("curl %s answered %q", url, out)
			}
		})
	}
	// The custom domain's certificate is not the environment's: a client
	// trusting only the CA refuses it.
	out, err := exec.CommandContext(t.Context(), curl, "-sS", "--max-time", "10",
		"--resolve", "shop.example.test:"+httpsPort+":127.0.0.1", "--cacert", caFile,
		"https://shop.example.test:"+httpsPort+"/env").CombinedOutput()
	if err == nil {
		t.Errorf("curl trusting only the environment CA accepted shop.example.test's own certificate: %s", out)
	}
	// Plain HTTP to a custom domain is routed (and redirected to HTTPS).
	if code, body := edgeGet(t, st.Edge.HTTP, "shop.example.test", "/env", nil); code != http.StatusMovedPermanently {
		t.Errorf("plain HTTP to the custom domain: %d %s, want 301", code, body)
	}
}

// TestReloadIngress changes an app's ingress in its YAML and reloads while
// a request is in flight: the new CORS policy and then external: false
// apply to new requests, and the request in flight completes.
func TestReloadIngress(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	app := func(extra string) string {
		return `
name: web
properties:
  configuration:
    ingress:
      targetPort: 8000
      allowInsecure: true
` + extra + `
  template:
    containers: [{name: web, image: web}]
`
	}
	st := runEnv(t, dir, map[string]string{
		"web.yaml":  app("      external: true"),
		"cove.yaml": fmt.Sprintf("apps:\n  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}\n", exe),
	})
	client := NewClient(filepath.Join(dir, "cove.yaml"))

	// A long request, held by the app until released.
	type result struct {
		code int
		body string
	}
	long := make(chan result, 1)
	go func() {
		code, body := edgeGet(t, st.Edge.HTTP, "web.localhost", "/hold", nil)
		long <- result{code, body}
	}()
	waitHeld(t, st.Edge.HTTP, "web.localhost", "1")

	preflight := http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"PUT"}}
	if code, _ := edgeDo(t, http.MethodOptions, st.Edge.HTTP, "web.localhost", "/x", preflight); code == http.StatusNoContent {
		t.Fatal("preflight answered by the edge before any CORS policy")
	}

	write(t, dir, "web.yaml", app(`      external: true
      corsPolicy: {allowedOrigins: ["https://a.example"], allowedMethods: [GET, PUT]}`))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Applied: []string{"web"}}, res); diff != "" {
		t.Errorf("reload with CORS (-want +got):\n%s", diff)
	}
	req, _ := http.NewRequest(http.MethodOptions, "http://"+st.Edge.HTTP+"/x", nil)
	req.Host = "web.localhost"
	req.Header = preflight
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://a.example" {
		t.Errorf("preflight after reload: %d, Allow-Origin %q", pre.StatusCode, pre.Header.Get("Access-Control-Allow-Origin"))
	}

	// external: false applies in place (a Dapr change would build the
	// app anew, and the request held would be drained with its replica).
	write(t, dir, "web.yaml", app("      external: false"))
	res, err = client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Applied: []string{"web"}}, res); diff != "" {
		t.Errorf("reload with external: false (-want +got):\n%s", diff)
	}
	if code, body := edgeGet(t, st.Edge.HTTP, "web.localhost", "/env", nil); code != http.StatusNotFound {
		t.Errorf("after external: false: %d %s, want 404", code, body)
	}
	// Still reachable from inside.
	if code, _ := proxyGet(t, st.Edge.Internal, "http://web/held"); code != http.StatusOK {
		t.Errorf("from inside after external: false: %d, want 200", code)
	}

	// An invalid file changes nothing.
	write(t, dir, "web.yaml", app("      external: maybe"))
	if _, err := client.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("reload of an invalid file: %v", err)
	}

	if code, _ := proxyGet(t, st.Edge.Internal, "http://web/release"); code != http.StatusOK {
		t.Fatalf("release: %d", code)
	}
	select {
	case r := <-long:
		if r.code != http.StatusOK || r.body != "finished" {
			t.Errorf("the request in flight across reloads: %d %q, want 200 finished", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight did not complete")
	}
}

// waitHeld waits until the app behind host (through the public edge)
// holds n requests on /hold.
func waitHeld(t *testing.T, edge, host, n string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, held := edgeGet(t, edge, host, "/held", nil); held == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %s requests", host, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxyGet sends a GET through the internal proxy, as an app does.
func proxyGet(t *testing.T, proxy, url string) (int, string) {
	t.Helper()
	pu, err := neturl.Parse("http://" + proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
