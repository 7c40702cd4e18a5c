package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/testaddr"
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

// echoServer accepts TCP connections and echoes them back.
func echoServer(t testing.TB) string {
	return testaddr.Serve(t, func(c net.Conn) { io.Copy(c, c) })
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
	conn, br := connect(t, in.Addr().String(), echoServer(t))
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
