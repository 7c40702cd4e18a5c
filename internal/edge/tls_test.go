package edge

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/security"
)

// servedEnv is an edge serving all three listeners through Serve, with an
// environment CA, as the control plane runs it.
type servedEnv struct {
	routes   *routing.Source
	ca       *security.CA
	http     string // host:port of the public cleartext listener
	https    string // host:port of the public TLS listener
	internal string // host:port of the internal proxy
	// app and appTLS serve the internal routes as an app's own address
	// does (Listeners.Apps and AppsTLS).
	app, appTLS string
}

func serveEnv(t testing.TB, opts Options, apps ...*routing.App) *servedEnv {
	t.Helper()
	ca, err := security.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.EdgeCerts(DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	src := &routing.Source{}
	src.Store(routing.NewTable(apps))
	opts.Routes, opts.Certificates = src, certs.GetCertificate
	pub, sec, in, app, appTLS := listen(t), listen(t), listen(t), listen(t), listen(t)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	ls := Listeners{HTTP: pub, HTTPS: sec, Internal: in, Apps: []net.Listener{app}, AppsTLS: []net.Listener{appTLS}}
	go func() { done <- New(opts).Serve(ctx, ls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &servedEnv{routes: src, ca: ca, http: pub.Addr().String(), https: sec.Addr().String(), internal: in.Addr().String(),
		app: app.Addr().String(), appTLS: appTLS.Addr().String()}
}

// caFile writes the CA certificate for curl.
func (s *servedEnv) caFile(t testing.TB) string { return s.ca.CertPath() }

func port(t testing.TB, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// protoClient returns a client that dials addr whatever the URL's host, so
// URLs can name apps (web.localhost) as users do, trusting the environment
// CA and speaking only the given protocols.
func protoClient(t testing.TB, addr string, pool *x509.CertPool, protos func(*http.Protocols), certs ...tls.Certificate) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs},
		Protocols:       new(http.Protocols),
	}
	protos(tr.Protocols)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func http1(p *http.Protocols)    { p.SetHTTP1(true) }
func h2(p *http.Protocols)       { p.SetHTTP2(true) }
func h2cOnly(p *http.Protocols)  { p.SetUnencryptedHTTP2(true) }
func anyProto(p *http.Protocols) { p.SetHTTP1(true); p.SetHTTP2(true) }

// protoSeen is what a replica reports about a request: the protocol it
// arrived over and the headers the edge set.
type protoSeen struct {
	Proto   string
	TLS     bool // the request reached the replica over TLS
	XFProto string
	XFCC    string
	Replica string
}

// protoReplica starts a replica speaking HTTP/1.1 and h2c that reports
// protoSeen; calls counts the requests it served.
func protoReplica(t testing.TB, app, name string, calls *atomic.Int64) routing.Endpoint {
	t.Helper()
	srv := httptest.NewUnstartedServer(protoHandler(name, calls))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return routing.Endpoint{App: app, Revision: app + "--1", Replica: name, Addr: srv.Listener.Addr().String()}
}

// tlsReplica is protoReplica serving HTTPS (HTTP/1.1 and h2) with a
// self-signed certificate, as an app with targetPortHttpScheme: https.
func tlsReplica(t testing.TB, app, name string) routing.Endpoint {
	t.Helper()
	srv := httptest.NewUnstartedServer(protoHandler(name, nil))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return routing.Endpoint{App: app, Revision: app + "--1", Replica: name, Addr: srv.Listener.Addr().String()}
}

func protoHandler(name string, calls *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if calls != nil {
			calls.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(protoSeen{
			Proto:   r.Proto,
			TLS:     r.TLS != nil,
			XFProto: r.Header.Get("X-Forwarded-Proto"),
			XFCC:    r.Header.Get(xfccHeader),
			Replica: name,
		})
	}
}

// TestTargetHTTPS: an app that serves HTTPS on its target port
// (targetPortHttpScheme: https) is reached over TLS, whatever the caller
// used, over HTTP/2 with transport http2; its self-signed certificate is
// accepted, as in ACA.
func TestTargetHTTPS(t *testing.T) {
	env := serveEnv(t, Options{},
		appWith("web", routing.Ingress{AllowInsecure: true, TargetHTTPS: true}, tlsReplica(t, "web", "web-a")),
		appWith("grpc", routing.Ingress{AllowInsecure: true, TargetHTTPS: true, Transport: routing.TransportHTTP2}, tlsReplica(t, "grpc", "grpc-a")),
		appWith("plain", routing.Ingress{AllowInsecure: true}, protoReplica(t, "plain", "plain-a", nil)),
	)
	proxy := &url.URL{Scheme: "http", Host: env.internal}
	tests := []struct {
		name   string
		c      *http.Client
		url    string
		tls    bool
		proto  string
		replic string
	}{
		{"public http to an https target", protoClient(t, env.http, nil, http1), "http://web.localhost/", true, "HTTP/1.1", "web-a"},
		{"public https to an https target", protoClient(t, env.https, env.ca.Pool(), anyProto), "https://web.localhost/", true, "HTTP/1.1", "web-a"},
		{"transport http2 to an https target", protoClient(t, env.http, nil, http1), "http://grpc.localhost/", true, "HTTP/2.0", "grpc-a"},
		{"from inside through the proxy", newClient(t, proxy), "http://web/", true, "HTTP/1.1", "web-a"},
		{"an http target stays plain", protoClient(t, env.http, nil, http1), "http://plain.localhost/", false, "HTTP/1.1", "plain-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.c, tt.url, nil)
			if r.status != http.StatusOK || r.seen.TLS != tt.tls || r.seen.Proto != tt.proto || r.seen.Replica != tt.replic {
				t.Errorf("GET %s: %d, replica %q saw TLS %v over %s; want 200, %q, TLS %v over %s (body %q)",
					tt.url, r.status, r.seen.Replica, r.seen.TLS, r.seen.Proto, tt.replic, tt.tls, tt.proto, r.body)
			}
		})
	}
}

func appWith(name string, in routing.Ingress, eps ...routing.Endpoint) *routing.App {
	in.External = true
	in.TargetPort = 8080
	return &routing.App{Name: name, Ingress: &in, Endpoints: eps}
}

type protoResult struct {
	status int
	proto  string // of the response to the client
	seen   protoSeen
	header http.Header
	body   string
}

func get(t testing.TB, c *http.Client, rawURL string, hdr http.Header) protoResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := protoResult{status: res.StatusCode, proto: res.Proto, header: res.Header, body: string(b)}
	if res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.seen); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
	}
	return r
}

func TestProtocolsGoClient(t *testing.T) {
	env := serveEnv(t, Options{},
		appWith("web", routing.Ingress{AllowInsecure: true}, protoReplica(t, "web", "web-a", nil)),
		appWith("h2app", routing.Ingress{AllowInsecure: true, Transport: routing.TransportHTTP2}, protoReplica(t, "h2app", "h2-a", nil)),
		appWith("h1app", routing.Ingress{AllowInsecure: true, Transport: routing.TransportHTTP}, protoReplica(t, "h1app", "h1-a", nil)),
	)
	pool := env.ca.Pool()
	tests := []struct {
		name      string
		addr      string
		protos    func(*http.Protocols)
		url       string
		wantProto string // client side
		wantUp    string // what the replica saw
		wantXFP   string
	}{
		{"https http/1.1 by ALPN", env.https, http1, "https://web.localhost/", "HTTP/1.1", "HTTP/1.1", "https"},
		{"https h2 by ALPN", env.https, h2, "https://web.localhost/", "HTTP/2.0", "HTTP/1.1", "https"},
		{"h2c prior knowledge on the public listener", env.http, h2cOnly, "http://web.localhost/", "HTTP/2.0", "HTTP/1.1", "http"},
		{"http/1.1 on the public listener", env.http, http1, "http://web.localhost/", "HTTP/1.1", "HTTP/1.1", "http"},
		{"h2c prior knowledge on the internal proxy", env.internal, h2cOnly, "http://web/", "HTTP/2.0", "HTTP/1.1", "http"},
		{"transport http2 over h2", env.https, h2, "https://h2app.localhost/", "HTTP/2.0", "HTTP/2.0", "https"},
		{"transport http2 from an HTTP/1.1 client", env.http, http1, "http://h2app.localhost/", "HTTP/1.1", "HTTP/2.0", "http"},
		{"transport http stays HTTP/1.1 upstream", env.https, h2, "https://h1app.localhost/", "HTTP/2.0", "HTTP/1.1", "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, protoClient(t, tt.addr, pool, tt.protos), tt.url, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := []string{r.proto, r.seen.Proto, r.seen.XFProto}
			if diff := cmp.Diff([]string{tt.wantProto, tt.wantUp, tt.wantXFP}, got); diff != "" {
				t.Errorf("[client proto, upstream proto, X-Forwarded-Proto] (-want +got):\n%s", diff)
			}
		})
	}
}

// curl runs the curl binary and returns its stdout.
func curl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--noproxy", "*"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=", "ALL_PROXY=")
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func TestProtocolsCurl(t *testing.T) {
	env := serveEnv(t, Options{},
		appWith("web", routing.Ingress{AllowInsecure: true}, protoReplica(t, "web", "web-a", nil)),
		appWith("secure", routing.Ingress{}, protoReplica(t, "secure", "secure-a", nil)),
	)
	hp, sp := port(t, env.http), port(t, env.https)
	resolve := func(host, p string) []string { return []string{"--resolve", host + ":" + p + ":127.0.0.1"} }
	tests := []struct {
		name string
		args []string
		want string // "<http_version> <status>"
	}{
		{"https h2 by ALPN", append(resolve("web.localhost", sp), "--http2", "--cacert", env.caFile(t), "https://web.localhost:"+sp+"/"), "2 200"},
		{"https http/1.1", append(resolve("web.localhost", sp), "--http1.1", "--cacert", env.caFile(t), "https://web.localhost:"+sp+"/"), "1.1 200"},
		{"h2c prior knowledge", append(resolve("web.localhost", hp), "--http2-prior-knowledge", "http://web.localhost:"+hp+"/"), "2 200"},
		{"plain HTTP to an app without allowInsecure", append(resolve("secure.localhost", hp), "http://secure.localhost:"+hp+"/x?y=1"), "1.1 301"},
		{"the redirect followed over h2", append(append(resolve("secure.localhost", hp), resolve("secure.localhost", sp)...),
			"-L", "--http2", "--cacert", env.caFile(t), "http://secure.localhost:"+hp+"/x?y=1"), "2 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_version} %{http_code}"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
	t.Run("untrusted without the CA", func(t *testing.T) {
		_, err := curl(t, append(resolve("web.localhost", sp), "-o", "/dev/null", "https://web.localhost:"+sp+"/")...)
		if err == nil {
			t.Fatal("curl trusted the edge without --cacert")
		}
	})
}

func TestAllowInsecure(t *testing.T) {
	env := serveEnv(t, Options{},
		appWith("secure", routing.Ingress{}, protoReplica(t, "secure", "secure-a", nil)),
		appWith("open", routing.Ingress{AllowInsecure: true}, protoReplica(t, "open", "open-a", nil)),
	)
	sp := port(t, env.https)
	pool := env.ca.Pool()
	tests := []struct {
		name     string
		addr     string
		url      string
		status   int
		location string
	}{
		{"plain HTTP redirects with path and query", env.http, "http://secure.localhost:8080/a/b?c=1&d=2", http.StatusMovedPermanently, "https://secure.localhost:" + sp + "/a/b?c=1&d=2"},
		{"HTTPS is served", env.https, "https://secure.localhost/a", http.StatusOK, ""},
		{"allowInsecure serves plain HTTP", env.http, "http://open.localhost/a", http.StatusOK, ""},
		{"allowInsecure serves HTTPS too", env.https, "https://open.localhost/a", http.StatusOK, ""},
		{"the internal proxy never redirects", env.internal, "http://secure/a", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, protoClient(t, tt.addr, pool, anyProto), tt.url, nil)
			if r.status != tt.status || r.header.Get("Location") != tt.location {
				t.Errorf("got %d Location %q, want %d Location %q", r.status, r.header.Get("Location"), tt.status, tt.location)
			}
		})
	}
}

func TestIPRestrictions(t *testing.T) {
	rules := func(allow bool, cidrs ...string) *routing.IPRules {
		r := &routing.IPRules{Allow: allow}
		for _, c := range cidrs {
			r.Ranges = append(r.Ranges, mustPrefix(t, c))
		}
		return r
	}
	tests := []struct {
		name   string
		rules  *routing.IPRules
		status int
	}{
		{"no rules", nil, http.StatusOK},
		{"allowed range", rules(true, "10.0.0.0/8", "127.0.0.0/8"), http.StatusOK},
		{"not in the allow list", rules(true, "10.0.0.0/8", "192.168.1.0/24"), http.StatusForbidden},
		{"denied address", rules(false, "127.0.0.1/32"), http.StatusForbidden},
		{"not in the deny list", rules(false, "10.0.0.0/8"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := serveEnv(t, Options{}, appWith("web", routing.Ingress{IPRules: tt.rules}, protoReplica(t, "web", "web-a", nil)))
			for _, c := range []struct{ addr, url string }{{env.https, "https://web.localhost/"}, {env.http, "http://web.localhost/"}} {
				r := get(t, protoClient(t, c.addr, env.ca.Pool(), anyProto), c.url, nil)
				want := tt.status
				if want == http.StatusOK && c.addr == env.http {
					want = http.StatusMovedPermanently // admitted, then sent to HTTPS
				}
				if r.status != want {
					t.Errorf("%s: status %d, want %d (%s)", c.url, r.status, want, r.body)
				}
			}
			// Apps inside the environment are not subject to the rules.
			if r := get(t, protoClient(t, env.internal, nil, http1), "http://web/", nil); r.status != http.StatusOK {
				t.Errorf("internal call: status %d", r.status)
			}
		})
	}
}

func TestClientCertificates(t *testing.T) {
	// A client certificate from a CA the edge has never seen: ACA accepts
	// any, and the app judges it from the header.
	clientCA, err := security.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cc, err := clientCA.Issue(security.Leaf{DNSNames: []string{"partner.example"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	wantXFCC := xfcc(cc.Leaf)
	env := serveEnv(t, Options{},
		appWith("ign", routing.Ingress{ClientCert: routing.ClientCertIgnore}, protoReplica(t, "ign", "ign-a", nil)),
		appWith("acc", routing.Ingress{ClientCert: routing.ClientCertAccept}, protoReplica(t, "acc", "acc-a", nil)),
		appWith("req", routing.Ingress{ClientCert: routing.ClientCertRequire}, protoReplica(t, "req", "req-a", nil)),
	)
	spoof := http.Header{"X-Forwarded-Client-Cert": {"Hash=forged"}}
	tests := []struct {
		name     string
		app      string
		withCert bool
		status   int // 0: the handshake fails
		wantXFCC string
	}{
		{"ignore without certificate", "ign", false, http.StatusOK, ""},
		{"ignore drops a certificate", "ign", true, http.StatusOK, ""},
		{"accept without certificate", "acc", false, http.StatusOK, ""},
		{"accept forwards the certificate", "acc", true, http.StatusOK, wantXFCC},
		{"require without certificate", "req", false, 0, ""},
		{"require forwards the certificate", "req", true, http.StatusOK, wantXFCC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var certs []tls.Certificate
			if tt.withCert {
				certs = append(certs, *cc)
			}
			for _, protos := range []func(*http.Protocols){http1, h2} {
				c := protoClient(t, env.https, env.ca.Pool(), protos, certs...)
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+tt.app+".localhost/", nil)
				req.Header = spoof.Clone()
				res, err := c.Do(req)
				if tt.status == 0 {
					if err == nil {
						res.Body.Close()
						t.Fatalf("request without a client certificate got %d", res.StatusCode)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var s protoSeen
				json.NewDecoder(res.Body).Decode(&s)
				res.Body.Close()
				if res.StatusCode != tt.status || s.XFCC != tt.wantXFCC {
					t.Errorf("%s: got %d XFCC %q, want %d XFCC %q", res.Proto, res.StatusCode, s.XFCC, tt.status, tt.wantXFCC)
				}
			}
		})
	}

	t.Run("require over plain HTTP", func(t *testing.T) {
		env := serveEnv(t, Options{}, appWith("req", routing.Ingress{AllowInsecure: true, ClientCert: routing.ClientCertRequire}, protoReplica(t, "req", "req-a", nil)))
		if r := get(t, protoClient(t, env.http, nil, http1), "http://req.localhost/", nil); r.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", r.status)
		}
	})

	t.Run("curl with --cert and --key", func(t *testing.T) {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
		writePEM(t, certFile, keyFile, cc)
		sp := port(t, env.https)
		base := []string{"--resolve", "req.localhost:" + sp + ":127.0.0.1", "--cacert", env.caFile(t), "-H", "X-Forwarded-Client-Cert: forged"}
		out, err := curl(t, append(base, "--cert", certFile, "--key", keyFile, "https://req.localhost:"+sp+"/")...)
		if err != nil {
			t.Fatal(err)
		}
		var s protoSeen
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		if s.XFCC != wantXFCC {
			t.Errorf("XFCC = %q, want %q", s.XFCC, wantXFCC)
		}
		if _, err := curl(t, append(base, "https://req.localhost:"+sp+"/")...); err == nil {
			t.Error("curl without a certificate reached an app that requires one")
		}
	})
}

func writePEM(t testing.TB, certFile, keyFile string, c *tls.Certificate) {
	t.Helper()
	var certs bytes.Buffer
	for _, der := range c.Certificate {
		certs.Write(pemBlock("CERTIFICATE", der))
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certs.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestXFCCFormat(t *testing.T) {
	ca, err := security.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue(security.Leaf{DNSNames: []string{"client.test"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	v := xfcc(c.Leaf)
	hash, cert, ok := strings.Cut(v, ";")
	if !ok || !strings.HasPrefix(hash, "Hash=") || !strings.HasPrefix(cert, `Cert="`) || !strings.HasSuffix(cert, `"`) {
		t.Fatalf("XFCC %q is not Hash=...;Cert=\"...\"", v)
	}
	if strings.ContainsAny(cert[6:len(cert)-1], " \n+/=") {
		t.Errorf("Cert is not URL-escaped: %q", cert)
	}
	p, err := url.PathUnescape(cert[6 : len(cert)-1])
	if err != nil {
		t.Fatal(err)
	}
	if want := string(pemBlock("CERTIFICATE", c.Leaf.Raw)); p != want {
		t.Errorf("unescaped Cert = %q, want the PEM %q", p, want)
	}
	if len(hash) != len("Hash=")+64 {
		t.Errorf("hash %q is not a SHA-256 in hex", hash)
	}
}

func TestInternalHTTPS(t *testing.T) {
	var calls atomic.Int64
	env := serveEnv(t, Options{}, internalAppWith("api", protoReplica(t, "api", "api-a", &calls)))
	proxy := &url.URL{Scheme: "http", Host: env.internal}
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: env.ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, u := range []string{"https://api/", "https://api.internal.localhost/"} {
		r := get(t, c, u, nil)
		if r.status != http.StatusOK || r.seen.XFProto != "https" || r.proto != "HTTP/2.0" {
			t.Errorf("%s: got %d %s X-Forwarded-Proto %q, want 200 HTTP/2.0 https", u, r.status, r.proto, r.seen.XFProto)
		}
	}
	out, err := curlProxy(t, "http://"+env.internal, "--cacert", env.caFile(t), "-o", "/dev/null", "-w", "%{http_code}", "https://api/")
	if err != nil || out != "200" {
		t.Errorf("curl through the proxy: %q, %v", out, err)
	}
}

// TestAppAddresses calls apps on their own addresses, as replicas that
// resolve `<app>` do without a proxy: http://<app> and https://<app> reach
// the app through the edge, with the environment CA's certificate.
func TestAppAddresses(t *testing.T) {
	var calls atomic.Int64
	env := serveEnv(t, Options{}, internalAppWith("api", protoReplica(t, "api", "api-a", &calls)))
	for _, tt := range []struct {
		url, addr, proto, xfProto string
		protos                    func(*http.Protocols)
	}{
		{url: "http://api/", addr: env.app, proto: "HTTP/1.1", xfProto: "http", protos: http1},
		{url: "http://api.internal.localhost/", addr: env.app, proto: "HTTP/2.0", xfProto: "http", protos: h2cOnly},
		{url: "https://api/", addr: env.appTLS, proto: "HTTP/2.0", xfProto: "https", protos: anyProto},
		{url: "https://api.internal.localhost/", addr: env.appTLS, proto: "HTTP/1.1", xfProto: "https", protos: http1},
	} {
		r := get(t, protoClient(t, tt.addr, env.ca.Pool(), tt.protos), tt.url, nil)
		if r.status != http.StatusOK || r.proto != tt.proto || r.seen.XFProto != tt.xfProto {
			t.Errorf("%s over %s: %d %s X-Forwarded-Proto %q, want 200 %s %s", tt.url, tt.proto, r.status, r.proto, r.seen.XFProto, tt.proto, tt.xfProto)
		}
	}
	for _, args := range [][]string{
		{"--connect-to", "api:80:" + env.app, "http://api/"},
		{"--connect-to", "api:443:" + env.appTLS, "--cacert", env.caFile(t), "https://api/"},
	} {
		out, err := curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
		if err != nil || out != "200" {
			t.Errorf("curl %v: %q, %v", args, out, err)
		}
	}
	if n := calls.Load(); n != 6 {
		t.Errorf("the replica got %d calls, want 6", n)
	}
}

// curlProxy runs curl through the given proxy.
func curlProxy(t testing.TB, proxy string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--proxy", proxy}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

func internalAppWith(name string, eps ...routing.Endpoint) *routing.App {
	return &routing.App{Name: name, Ingress: &routing.Ingress{TargetPort: 8000}, Endpoints: eps}
}

func TestServeHTTPSNeedsCertificates(t *testing.T) {
	err := New(Options{}).Serve(t.Context(), Listeners{HTTPS: listen(t)})
	if err == nil || !strings.Contains(err.Error(), "Certificates") {
		t.Fatalf("err = %v, want one naming Options.Certificates", err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dialTo returns a DialContext that connects to addr whatever it is asked.
func dialTo(addr string) func(context.Context, string, string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
