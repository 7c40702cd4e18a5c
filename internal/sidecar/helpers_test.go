package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/testaddr"
)

// appSeen is what the test app reports about a request it received.
type appSeen struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// newApp starts the app the tests invoke. /stream echoes the body back as
// it reads it; any other path answers with a JSON report of the request,
// with the status asked for in X-Reply-Status (200 by default).
func newApp(t testing.TB) *httptest.Server {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			// Echo while still reading: HTTP/1 needs full duplex for that.
			_ = http.NewResponseController(w).EnableFullDuplex()
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.Copy(w, r.Body)
			return
		}
		body, _ := io.ReadAll(r.Body)
		status := http.StatusOK
		if s := r.Header.Get("X-Reply-Status"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				n = http.StatusBadRequest
			}
			status = n
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-App", "orders")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(appSeen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header, string(body)})
	}))
	t.Cleanup(app.Close)
	return app
}

// testEnv is a started sidecar for app "frontend" that can invoke "orders"
// (the test app) and "down" (a replica nobody listens on).
type testEnv struct {
	sc  *Sidecar
	url string
	app *httptest.Server
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	app := newApp(t)
	var src routing.Source
	src.Store(routing.NewTable([]*routing.App{
		{Name: "orders", DaprAppID: "orders", Endpoints: []routing.Endpoint{{App: "orders", Replica: "orders-1", Addr: app.Listener.Addr().String()}}},
		{Name: "down", DaprAppID: "down", Endpoints: []routing.Endpoint{{App: "down", Replica: "down-1", Addr: testaddr.Refused(t)}}},
	}))
	if cfg.AppID == "" {
		cfg.AppID = "frontend"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Invoker == nil {
		cfg.Invoker = invoke.New(RoutingResolver{Source: &src}, invoke.Options{})
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPListener = l
	sc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sc.Close(ctx); err != nil {
			t.Errorf("closing the sidecar: %v", err)
		}
	})
	return &testEnv{sc: sc, url: "http://" + l.Addr().String(), app: app}
}

// noRedirects is the tests' client: it shows a redirect instead of
// following it, since the Dapr API never answers with one.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends one request and returns the response with its body read.
func do(t testing.TB, method, url, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, data
}

// wantDaprError checks a response is Dapr's JSON error with this status
// and code, and returns its message.
func wantDaprError(t testing.TB, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error content type %q, want application/json", ct)
	}
	var e daprerr.Body
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not Dapr's JSON: %v", body, err)
	}
	if e.ErrorCode != code {
		t.Errorf("errorCode %q, want %q (message %q)", e.ErrorCode, code, e.Message)
	}
	return e.Message
}

// httptestServer serves h for the test and returns its base URL.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
