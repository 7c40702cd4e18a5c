package h1

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tlsServer serves h on an h1 Server over TLS with httptest's certificate
// and returns a client that trusts it.
func tlsServer(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	certs := ts.TLS.Certificates
	client := ts.Client()
	ts.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{Certificates: certs, NextProtos: []string{"h2", "http/1.1"}}, Protocols: new(http.Protocols)}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	s := New(hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeTLS(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String(), client
}

// Over TLS, HTTP/1.1 is served by h1 and h2 by net/http, and the handler
// sees the connection's TLS state either way, also on a request that was
// handed over after h1 read it.
func TestTLS(t *testing.T) {
	addr, client := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		st := TLS(r)
		if st == nil {
			http.Error(w, "no TLS state", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s r.TLS=%v", r.Proto, st.NegotiatedProtocol, r.TLS != nil)
	}))
	h2 := client.Transport.(*http.Transport).Clone()
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetHTTP2(true)
	h11 := client.Transport.(*http.Transport).Clone()
	h11.Protocols = new(http.Protocols)
	h11.Protocols.SetHTTP1(true)
	h11.ExpectContinueTimeout = 5 * time.Second
	h11.TLSClientConfig.NextProtos = []string{"http/1.1"}
	url := "https://" + addr + "/"
	for _, tc := range []struct {
		name string
		tr   *http.Transport
		req  func() *http.Request
		want string
	}{
		{"http/1.1", h11, func() *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }, "HTTP/1.1 http/1.1 r.TLS=true"},
		{"h2", h2, func() *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }, "HTTP/2.0 h2 r.TLS=true"},
		{"http/1.1 handed over (Expect)", h11, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("body"))
			r.Header.Set("Expect", "100-continue")
			return r
		}, "HTTP/1.1 http/1.1 r.TLS=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // a fresh connection, then a kept-alive one
				res, err := (&http.Client{Transport: tc.tr}).Do(tc.req())
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if string(b) != tc.want {
					t.Fatalf("answer %q, want %q", b, tc.want)
				}
			}
		})
	}
}

// A client that fails the handshake is dropped; the server goes on.
func TestTLSHandshakeFailure(t *testing.T) {
	addr, client := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := untrusting.Get("https://" + addr + "/"); err == nil {
		t.Fatal("a client that does not trust the certificate got an answer")
	}
	c, _ := net.Dial("tcp", addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // plain HTTP to a TLS port
	c.Close()
	res, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}
