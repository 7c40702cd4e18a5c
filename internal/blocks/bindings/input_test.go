package bindings_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/components"
	cbind "github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/cron"
	"github.com/cove-env/cove/internal/components/bindings/localstorage"
	"github.com/cove-env/cove/internal/metrics"
)

func addInput(t *testing.T, s *bindings.Service, name string, b cbind.Input, props map[string]string) {
	t.Helper()
	md := components.Metadata{Name: name, Type: "bindings.test", Version: "v1", Properties: props}
	if err := b.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := s.AddInput(md, b); err != nil {
		t.Fatal(err)
	}
}

type seen struct {
	method, path, contentType, timeZone string
}

// TestHTTPInput: daprd's OPTIONS probe decides which bindings an HTTP app
// gets (2xx or 405 yes, 404 no), unless direction names input; events are
// POSTed to the route as application/json with the metadata as headers;
// Stop ends them.
func TestHTTPInput(t *testing.T) {
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("timeZone")})
		mu.Unlock()
		switch {
		case r.URL.Path == "/tick" && r.Method == http.MethodOptions:
		case r.URL.Path == "/routed" && r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusMethodNotAllowed)
		case r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	s := bindings.New("app", bindings.Options{})
	addInput(t, s, "tick", cron.New(), map[string]string{"schedule": "@every 1s"})
	addInput(t, s, "other", cron.New(), map[string]string{"schedule": "@every 1s", "route": "/routed"})
	addInput(t, s, "unasked", cron.New(), map[string]string{"schedule": "@every 1s", "route": "declared", "direction": "input"})
	addInput(t, s, "untaken", cron.New(), map[string]string{"schedule": "@every 1s"})
	addInput(t, s, "outonly", cron.New(), map[string]string{"schedule": "@every 1s", "direction": "output"})
	if !s.HasInputs() {
		t.Fatal("no inputs")
	}
	r, err := s.Read(t.Context(), &bindings.HTTPApp{Addr: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	r.Stop()
	mu.Lock()
	got := map[string]seen{}
	for _, q := range reqs {
		got[q.method+" "+q.path] = q
	}
	n := len(reqs)
	mu.Unlock()
	for _, want := range []string{"OPTIONS /tick", "POST /tick", "OPTIONS /routed", "POST /routed", "POST /declared", "OPTIONS /untaken"} {
		if _, ok := got[want]; !ok {
			t.Errorf("the app got no %s; got %v", want, got)
		}
	}
	for _, not := range []string{"OPTIONS /declared", "POST /untaken", "OPTIONS /outonly", "POST /outonly"} {
		if _, ok := got[not]; ok {
			t.Errorf("the app got %s", not)
		}
	}
	if p := got["POST /tick"]; p.contentType != "application/json" || p.timeZone == "" {
		t.Errorf("POST /tick = %+v; want application/json and the timeZone metadata as a header", p)
	}
	time.Sleep(1200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != n {
		t.Errorf("%d requests after Stop", len(reqs)-n)
	}
	infos := s.Bindings()
	if len(infos) != 4 || infos[0].Name != "other" || infos[0].Capabilities[0] != bindings.CapabilityInput {
		t.Errorf("Bindings() = %+v; want the four input bindings", infos)
	}
}

// source is an input binding that hands its events to the test.
type source struct {
	h chan cbind.Handler
}

func (s *source) Init(context.Context, components.Metadata) error { return nil }
func (s *source) Close() error                                    { return nil }
func (s *source) Read(_ context.Context, h cbind.Handler) error {
	s.h <- h
	return nil
}

// TestAppAnswers: a 2xx answer is the event's answer; anything else is an
// error the source gets back (to redeliver), retried first under the
// inbound policy; after Stop events are refused.
func TestAppAnswers(t *testing.T) {
	var mu sync.Mutex
	codes := []int{500, 500, 200, 404}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			return
		}
		mu.Lock()
		c := codes[0]
		codes = codes[1:]
		mu.Unlock()
		w.WriteHeader(c)
		_, _ = w.Write([]byte("answer"))
	}))
	defer srv.Close()
	s := bindings.New("app", bindings.Options{Inbound: retries(1)})
	src := &source{h: make(chan cbind.Handler, 1)}
	addInput(t, s, "src", src, nil)
	r, err := s.Read(t.Context(), &bindings.HTTPApp{Addr: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	h := <-src.h
	if _, err := h(t.Context(), &cbind.Event{Data: []byte(`{}`)}); err == nil {
		t.Error("two 500s under one retry: no error")
	}
	mu.Lock()
	codes = []int{500, 200, 404, 404}
	mu.Unlock()
	out, err := h(t.Context(), &cbind.Event{Data: []byte(`{}`)})
	if err != nil || string(out) != "answer" {
		t.Errorf("500 then 200 under one retry = %q, %v; want the answer", out, err)
	}
	if _, err := h(t.Context(), &cbind.Event{}); err == nil {
		t.Error("404 twice: no error")
	}
	r.Stop()
	if _, err := h(t.Context(), &cbind.Event{}); err == nil {
		t.Error("an event after Stop was taken")
	}
}

type grpcApp struct {
	runtimev1pb.UnimplementedAppCallbackServer
	events chan *runtimev1pb.BindingEventRequest
}

func (a *grpcApp) ListInputBindings(context.Context, *emptypb.Empty) (*runtimev1pb.ListInputBindingsResponse, error) {
	return &runtimev1pb.ListInputBindingsResponse{Bindings: []string{"tick"}}, nil
}

func (a *grpcApp) OnBindingEvent(_ context.Context, req *runtimev1pb.BindingEventRequest) (*runtimev1pb.BindingEventResponse, error) {
	select {
	case a.events <- req:
	default:
	}
	return &runtimev1pb.BindingEventResponse{Data: []byte(`{"from":"app"}`), To: []string{"files"}}, nil
}

// TestGRPCInput: a gRPC app gets the bindings it lists in
// ListInputBindings through OnBindingEvent, and the data of its answer is
// created in the output bindings it names, as daprd does.
func TestGRPCInput(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	app := &grpcApp{events: make(chan *runtimev1pb.BindingEventRequest, 1)}
	runtimev1pb.RegisterAppCallbackServer(srv, app)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	root := t.TempDir()
	s := bindings.New("app", bindings.Options{})
	add(t, s, "files", localstorage.Type, localstorage.New(), map[string]string{"rootPath": root})
	addInput(t, s, "tick", cron.New(), map[string]string{"schedule": "@every 1s"})
	addInput(t, s, "unlisted", cron.New(), map[string]string{"schedule": "@every 1s"})
	r, err := s.Read(t.Context(), &bindings.GRPCApp{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if names := r.Names(); len(names) != 1 || names[0] != "tick" {
		t.Errorf("reading %v; want [tick]", names)
	}
	select {
	case ev := <-app.events:
		if ev.GetName() != "tick" || ev.GetMetadata()["timeZone"] == "" {
			t.Errorf("event = %v", ev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no event within 3s")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		files, _ := os.ReadDir(root)
		if len(files) > 0 {
			data, err := os.ReadFile(root + "/" + files[0].Name())
			if err != nil || string(data) != `{"from":"app"}` {
				t.Errorf("file = %q, %v; want the app's answer", data, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app's answer was not created in the output binding it named")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInputMetrics: each event is counted under daprd's input binding
// metrics, success as the app answered.
func TestInputMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	d, err := metrics.NewDapr(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.Sidecar("app", metrics.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("fail") != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	s := bindings.New("app", bindings.Options{Metrics: rec})
	src := &source{h: make(chan cbind.Handler, 1)}
	addInput(t, s, "src", src, nil)
	r, err := s.Read(t.Context(), &bindings.HTTPApp{Addr: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	h := <-src.h
	_, _ = h(t.Context(), &cbind.Event{})
	_, _ = h(t.Context(), &cbind.Event{})
	_, _ = h(t.Context(), &cbind.Event{Metadata: map[string]string{"fail": "1"}})
	rr := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, w := range []string{
		`dapr_component_input_binding_count{app_id="app",component="src",namespace="default",success="true"} 2`,
		`dapr_component_input_binding_count{app_id="app",component="src",namespace="default",success="false"} 1`,
		`dapr_component_input_binding_latencies_count{app_id="app",component="src",namespace="default",success="true"} 2`,
	} {
		if !strings.Contains(rr.Body.String(), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// stuckApp holds every event until its context ends, as the sidecar's
// gate does while the app is unhealthy.
type stuckApp struct{ in chan struct{} }

func (a stuckApp) Takes(context.Context, string, string) (bool, error) { return true, nil }
func (a stuckApp) Deliver(ctx context.Context, _ *bindings.Event) (*bindings.Answer, error) {
	a.in <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestStopIsBounded: an event the app holds does not keep Stop waiting
// past StopWait; it is cancelled and goes back to its source.
func TestStopIsBounded(t *testing.T) {
	s := bindings.New("app", bindings.Options{})
	src := &source{h: make(chan cbind.Handler, 1)}
	addInput(t, s, "src", src, nil)
	app := stuckApp{in: make(chan struct{}, 1)}
	r, err := s.Read(t.Context(), app)
	if err != nil {
		t.Fatal(err)
	}
	h := <-src.h
	errc := make(chan error, 1)
	go func() { _, err := h(t.Context(), &cbind.Event{}); errc <- err }()
	<-app.in
	start := time.Now()
	r.Stop()
	if d := time.Since(start); d > bindings.StopWait+time.Second {
		t.Errorf("Stop took %v", d)
	}
	if err := <-errc; err == nil {
		t.Error("the held event was taken")
	}
}
