package http_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
	bhttp "github.com/cove-env/cove/internal/components/bindings/http"
	"github.com/cove-env/cove/internal/components/componenttest"
)

type seen struct {
	method, path, body, ctype, token, custom string
}

func server(t *testing.T, tlsServer bool) (*httptest.Server, chan seen) {
	t.Helper()
	got := make(chan seen, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, string(b), r.Header.Get("Content-Type"), r.Header.Get("X-Token"), r.Header.Get("X-Custom")}
		w.Header().Set("X-Answer", "yes")
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = w.Write([]byte("answer " + r.Method))
	})
	var s *httptest.Server
	if tlsServer {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s, got
}

func TestVerbs(t *testing.T) {
	s, got := server(t, false)
	b, err := componenttest.Open[bindings.Output](t, bhttp.Type, map[string]string{
		"url": s.URL + "/api", "securityToken": "tok", "securityTokenHeader": "X-Token",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"create", "get", "head", "post", "put", "patch", "delete", "options", "trace"} {
		resp, err := b.Invoke(t.Context(), &bindings.Request{Operation: op, Data: []byte(`{"a":1}`), Metadata: map[string]string{"path": "/items/1", "X-Custom": "c", "lower": "not a header"}})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		r := <-got
		want := strings.ToUpper(op)
		if op == "create" {
			want = "POST"
		}
		if r.method != want || r.path != "/api/items/1" || r.token != "tok" || r.custom != "c" {
			t.Errorf("%s sent %+v", op, r)
		}
		hasBody := want == "POST" || want == "PUT" || want == "PATCH"
		if hasBody != (r.body == `{"a":1}`) {
			t.Errorf("%s sent body %q", op, r.body)
		}
		if resp.Metadata["statusCode"] != "200" || resp.Metadata["X-Answer"] != "yes" {
			t.Errorf("%s answered metadata %v", op, resp.Metadata)
		}
		if op != "head" && string(resp.Data) != "answer "+want {
			t.Errorf("%s answered %q", op, resp.Data)
		}
	}
	resp, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get", Metadata: map[string]string{"path": "missing"}})
	if err == nil || resp == nil || resp.Metadata["statusCode"] != "404" {
		t.Fatalf("404 = %v, %v; want an error with the answer's metadata", resp, err)
	}
	<-got
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get", Metadata: map[string]string{"path": "missing", "errorIfNot2XX": "false"}}); err != nil {
		t.Fatalf("404 with errorIfNot2XX false = %v", err)
	}
	<-got
}

func TestRootCA(t *testing.T) {
	s, got := server(t, true)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
	b, err := componenttest.Open[bindings.Output](t, bhttp.Type, map[string]string{"url": s.URL, "mtlsRootCA": ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get"}); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	<-got
	plain, err := componenttest.Open[bindings.Output](t, bhttp.Type, map[string]string{"url": s.URL})
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := plain.Invoke(t.Context(), &bindings.Request{Operation: "get"}); !errors.As(err, &unknown) {
		t.Fatalf("without the CA = %v; want an unknown authority", err)
	}
}

// TestProxy checks that, given the environment's proxy, a URL naming an
// app goes through it, and loopback goes direct.
func TestProxy(t *testing.T) {
	s, got := server(t, false)
	proxied := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied <- r.URL.String()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(proxy.Close)
	for _, c := range []struct{ url, via string }{{"http://orders/api", "http://orders/api"}, {s.URL, ""}} {
		info, _ := components.Lookup(bhttp.Type, "v1")
		b := info.New().(bindings.Output)
		if err := b.Init(t.Context(), components.Metadata{Name: "h", Properties: map[string]string{"url": c.url}, HTTPProxy: proxy.URL}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get"}); err != nil {
			t.Fatal(err)
		}
		if c.via != "" {
			if u := <-proxied; u != c.via {
				t.Errorf("proxy got %s, want %s", u, c.via)
			}
		} else {
			<-got
		}
		_ = b.Close()
	}
}

func TestInitErrors(t *testing.T) {
	for _, props := range []map[string]string{
		{}, {"url": "orders"}, {"url": "ftp://x"}, {"url": "http://x", "mtlsClientCert": "a"},
		{"url": "http://x", "maxResponseBodySize": "lots"}, {"url": "http://x", "mtlsRenegotiation": "sometimes"},
	} {
		if _, err := componenttest.Open[bindings.Output](t, bhttp.Type, props); err == nil {
			t.Errorf("Init(%v) succeeded", props)
		}
	}
}

// TestClientCertificate: mtlsClientCert and mtlsClientKey (here as files)
// authenticate the binding to a server that requires a client
// certificate; without them the server refuses it.
func TestClientCertificate(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "binding"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	s.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	s.StartTLS()
	defer s.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))

	b, err := componenttest.Open[bindings.Output](t, bhttp.Type, map[string]string{
		"url": s.URL, "mtlsRootCA": ca, "mtlsClientCert": certFile, "mtlsClientKey": keyFile, "mtlsRenegotiation": "RenegotiateOnceAsClient",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get"})
	if err != nil || string(resp.Data) != "binding" {
		t.Fatalf("with the client certificate = %v, %v", resp, err)
	}
	anon, err := componenttest.Open[bindings.Output](t, bhttp.Type, map[string]string{"url": s.URL, "mtlsRootCA": ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Invoke(t.Context(), &bindings.Request{Operation: "get"}); err == nil {
		t.Fatal("a server requiring a client certificate answered a binding without one")
	}
}
