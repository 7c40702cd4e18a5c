package grpcapi_test

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
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	_ "github.com/cove-env/cove/internal/components/state/inmemory"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/sidecar"
)

const storeName = "statestore"

// seenHTTP is what the HTTP test app reports about a request.
type seenHTTP struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       string            `json:"query"`
	ContentType string            `json:"contentType"`
	Header      map[string]string `json:"header"`
	Body        string            `json:"body"`
}

// newHTTPApp answers every request with a JSON report of it, with the
// status asked for in X-Reply-Status.
func newHTTPApp(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k := range r.Header {
			h[k] = r.Header.Get(k)
		}
		status := http.StatusOK
		if s := r.Header.Get("X-Reply-Status"); s != "" {
			status, _ = strconv.Atoi(s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-App", "orders")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(seenHTTP{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), h, string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// seenGRPC is what the SDK-written gRPC app reports about an invocation.
type seenGRPC struct {
	Data        string `json:"data"`
	ContentType string `json:"contentType"`
	Verb        string `json:"verb"`
	Query       string `json:"query"`
	Caller      string `json:"caller"`
}

// newSDKApp is a gRPC app written with the Dapr Go SDK: "echo" reports the
// invocation, "fail" answers NotFound with a message.
func newSDKApp(t testing.TB) string {
	t.Helper()
	l := listen(t)
	svc := daprgrpc.NewServiceWithListener(l)
	err := svc.AddServiceInvocationHandler("echo", func(ctx context.Context, in *common.InvocationEvent) (*common.Content, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		caller := ""
		if v := md.Get("dapr-caller-app-id"); len(v) > 0 {
			caller = v[0]
		}
		out, _ := json.Marshal(seenGRPC{string(in.Data), in.ContentType, in.Verb, in.QueryString, caller})
		return &common.Content{Data: out, ContentType: "application/json"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.AddServiceInvocationHandler("fail", func(context.Context, *common.InvocationEvent) (*common.Content, error) {
		return nil, status.Error(codes.NotFound, "no such order")
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start() }()
	t.Cleanup(func() { _ = svc.Stop() })
	return l.Addr().String()
}

// testService implements grpc.testing.TestService for the proxy tests.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

// UnaryCall echoes the payload with the caller's dapr metadata in the
// header; a response size of 13 fails with NotFound and trailers.
func (testService) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs(
		"x-seen-caller", strings.Join(md.Get("dapr-caller-app-id"), ","),
		"x-seen-custom", strings.Join(md.Get("x-custom"), ",")))
	if in.GetResponseSize() == 13 {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-reason", "unlucky"))
		return nil, status.Error(codes.NotFound, "order 13 does not exist")
	}
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

// StreamingOutputCall sends one response per requested size, each a payload
// of that size.
func (testService) StreamingOutputCall(in *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	_ = ss.SendHeader(metadata.Pairs("x-stream", "out"))
	for _, p := range in.GetResponseParameters() {
		body := make([]byte, p.GetSize())
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
	ss.SetTrailer(metadata.Pairs("x-sent", strconv.Itoa(len(in.GetResponseParameters()))))
	return nil
}

// StreamingInputCall sums the payload sizes it receives.
func (testService) StreamingInputCall(ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	total := 0
	for {
		in, err := ss.Recv()
		if err == io.EOF {
			return ss.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(in.GetPayload().GetBody())
	}
}

// FullDuplexCall answers each request at once with its payload.
func (testService) FullDuplexCall(ss grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		in, err := ss.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

func newTestServiceApp(t testing.TB) string {
	t.Helper()
	l := listen(t)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testService{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stack is a started sidecar for app "frontend" that can reach "orders"
// (HTTP), "greeter" (gRPC, Dapr SDK) and "testsvc" (gRPC, raw service).
type stack struct {
	sc       *sidecar.Sidecar
	httpURL  string
	grpcAddr string
	state    *state.Service
	shutdown chan struct{}
	inv      *invoke.Invoker
}

func newStack(t testing.TB) *stack {
	t.Helper()
	var src routing.Source
	app := func(id, proto, addr string) *routing.App {
		return &routing.App{Name: id, DaprAppID: id, AppProtocol: proto,
			Endpoints: []routing.Endpoint{{App: id, Replica: id + "-1", Addr: addr}}}
	}
	src.Store(routing.NewTable([]*routing.App{
		app("orders", "http", newHTTPApp(t)),
		app("greeter", "grpc", newSDKApp(t)),
		app("testsvc", "grpc", newTestServiceApp(t)),
	}))
	inv := invoke.New(sidecar.RoutingResolver{Source: &src}, invoke.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = inv.Close() })
	st := &stack{state: newStateService(t), shutdown: make(chan struct{}), inv: inv}
	hl, gl := listen(t), listen(t)
	var once sync.Once
	sc := startSidecar(t, sidecar.Config{
		AppID:              "frontend",
		HTTPListener:       hl,
		GRPCListener:       gl,
		State:              st.state,
		Invoker:            inv,
		Logger:             slog.New(slog.DiscardHandler),
		RuntimeVersion:     "test",
		MaxRequestBodySize: 1 << 20,
		OnShutdown:         func() { once.Do(func() { close(st.shutdown) }) },
	})
	st.sc, st.httpURL, st.grpcAddr = sc, "http://"+hl.Addr().String(), gl.Addr().String()
	return st
}

// startSidecar starts a sidecar, closed with the test.
func startSidecar(t testing.TB, cfg sidecar.Config) *sidecar.Sidecar {
	t.Helper()
	sc, err := sidecar.New(cfg)
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
	return sc
}

// newStateService is the real state block with one in-memory store.
func newStateService(t testing.TB) *state.Service {
	t.Helper()
	svc := state.New("frontend")
	md := components.Metadata{Name: storeName, Type: "state.in-memory", Version: "v1", AppID: "frontend"}
	info, err := components.Lookup(md.Type, md.Version)
	if err != nil {
		t.Fatal(err)
	}
	store := info.New().(cstate.Store)
	if err := store.Init(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := svc.Add(md, store); err != nil {
		t.Fatal(err)
	}
	return svc
}

// sdk connects the official Go SDK to the sidecar's gRPC API.
func (s *stack) sdk(t testing.TB) dapr.Client {
	t.Helper()
	c, err := dapr.NewClientWithAddressContext(t.Context(), s.grpcAddr)
	if err != nil {
		t.Fatalf("SDK connecting to the sidecar: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// conn is a plain grpc-go connection to the sidecar.
func (s *stack) conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// wantStatus checks err is a gRPC status with this code whose message
// contains msg (the SDK prefixes its own words), and returns it.
func wantStatus(t testing.TB, err error, code codes.Code, msg string) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("status %v %q, want %v with %q", st.Code(), st.Message(), code, msg)
	}
	return st
}
