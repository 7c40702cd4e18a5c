package sidecar

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/tracecontext"
)

// staticPolicies are invocation rules fixed by a test.
type staticPolicies struct {
	res  map[string]*resiliency.Policy // by target
	apps map[string]*invoke.AppSettings
}

func (p *staticPolicies) Resiliency(_, target string) *resiliency.Policy { return p.res[target] }
func (p *staticPolicies) App(id string) *invoke.AppSettings              { return p.apps[id] }

// hitApp is a loopback app that counts requests and answers with reply.
type hitApp struct {
	hits  atomic.Int32
	reply atomic.Pointer[func(n int, w http.ResponseWriter, r *http.Request)]
	seen  atomic.Pointer[http.Header]
	addr  string
}

func newHitApp(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *hitApp {
	t.Helper()
	a := &hitApp{}
	a.reply.Store(&reply)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(a.hits.Add(1))
		h := r.Header.Clone()
		a.seen.Store(&h)
		(*a.reply.Load())(n, w, r)
	}))
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

// policyStack is a sidecar for "frontend" with HTTP and gRPC APIs, over an
// invoker with the given rules, and the apps it can call.
type policyStack struct {
	httpURL, grpcAddr string
}

func newPolicyStack(t *testing.T, cfg Config, pol *staticPolicies, opts invoke.Options, apps map[string]*hitApp, extra ...*routing.App) *policyStack {
	t.Helper()
	list := extra
	for id, a := range apps {
		list = append(list, &routing.App{Name: id, DaprAppID: id, Endpoints: []routing.Endpoint{{App: id, Replica: id + "-1", Addr: a.addr}}})
	}
	var src routing.Source
	src.Store(routing.NewTable(list))
	opts.Logger = slog.New(slog.DiscardHandler)
	inv := invoke.New(RoutingResolver{Source: &src}, opts)
	inv.SetPolicies(pol)
	t.Cleanup(func() { _ = inv.Close() })
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.AppID, cfg.HTTPListener, cfg.GRPCListener, cfg.Invoker = "frontend", hl, gl, inv
	cfg.Logger = slog.New(slog.DiscardHandler)
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
		_ = sc.Close(ctx)
	})
	return &policyStack{httpURL: "http://" + hl.Addr().String(), grpcAddr: gl.Addr().String()}
}

func constantRetry(n int) *resiliency.Retry {
	return &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: 10 * time.Millisecond, MaxRetries: n}
}

// failFirst answers 503 to the first n requests, then 200 with the body.
func failFirst(n int) func(int, http.ResponseWriter, *http.Request) {
	return func(hit int, w http.ResponseWriter, r *http.Request) {
		if hit <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not yet"))
			return
		}
		body := make([]byte, 64<<10)
		m, _ := r.Body.Read(body)
		_, _ = w.Write(append([]byte("ok:"), body[:m]...))
	}
}

func TestRetriesFlakyApp(t *testing.T) {
	app := newHitApp(t, failFirst(2))
	s := newPolicyStack(t, Config{}, &staticPolicies{res: map[string]*resiliency.Policy{"flaky": {Retry: constantRetry(3)}}},
		invoke.Options{}, map[string]*hitApp{"flaky": app})
	resp, body := do(t, http.MethodPost, s.httpURL+"/v1.0/invoke/flaky/method/work", "payload", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "ok:payload" {
		t.Fatalf("caller got %d %q, want 200 ok:payload (the body replayed)", resp.StatusCode, body)
	}
	if n := app.hits.Load(); n != 3 {
		t.Errorf("app hit %d times, want 3 (retried twice)", n)
	}
}

func TestRetriesExhaustedPassTheAnswerOn(t *testing.T) {
	app := newHitApp(t, failFirst(10))
	s := newPolicyStack(t, Config{}, &staticPolicies{res: map[string]*resiliency.Policy{"flaky": {Retry: constantRetry(1)}}},
		invoke.Options{}, map[string]*hitApp{"flaky": app})
	resp, body := do(t, http.MethodGet, s.httpURL+"/v1.0/invoke/flaky/method/work", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "not yet" || app.hits.Load() != 2 {
		t.Errorf("caller got %d %q after %d hits, want the app's 503 after 2", resp.StatusCode, body, app.hits.Load())
	}
}

func TestLargeBodyIsNotRetried(t *testing.T) {
	app := newHitApp(t, failFirst(2))
	s := newPolicyStack(t, Config{}, &staticPolicies{res: map[string]*resiliency.Policy{"flaky": {Retry: constantRetry(3)}}},
		invoke.Options{ReplayLimit: 1 << 10}, map[string]*hitApp{"flaky": app})
	resp, _ := do(t, http.MethodPost, s.httpURL+"/v1.0/invoke/flaky/method/work", strings.Repeat("x", 4<<10), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || app.hits.Load() != 1 {
		t.Errorf("caller got %d after %d hits; a body above the replay limit must be sent once", resp.StatusCode, app.hits.Load())
	}
}

func TestTimeout(t *testing.T) {
	app := newHitApp(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select { // slow: answers only after the caller gave up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	s := newPolicyStack(t, Config{}, &staticPolicies{res: map[string]*resiliency.Policy{"slow": {Timeout: 100 * time.Millisecond}}},
		invoke.Options{}, map[string]*hitApp{"slow": app})
	resp, body := do(t, http.MethodGet, s.httpURL+"/v1.0/invoke/slow/method/work", "", nil)
	msg := wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_DIRECT_INVOKE")
	if msg != "failed to invoke, id: slow, err: context deadline exceeded" {
		t.Errorf("message %q, want Dapr's invoke failure naming the deadline", msg)
	}
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = runtimev1pb.NewDaprClient(cc).InvokeService(t.Context(), &runtimev1pb.InvokeServiceRequest{Id: "slow",
		Message: &commonv1pb.InvokeRequest{Method: "work"}})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC API: %v, want DeadlineExceeded", err)
	}
}

func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	var healthy atomic.Bool
	app := newHitApp(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	trip, err := resiliency.CompileTrip("consecutiveFailures >= 2")
	if err != nil {
		t.Fatal(err)
	}
	b := resiliency.NewBreaker(resiliency.BreakerPolicy{Timeout: 300 * time.Millisecond, Trip: trip}, nil)
	s := newPolicyStack(t, Config{}, &staticPolicies{res: map[string]*resiliency.Policy{"weak": {Breaker: b}}},
		invoke.Options{}, map[string]*hitApp{"weak": app})
	url := s.httpURL + "/v1.0/invoke/weak/method/x"
	for range 2 {
		if resp, _ := do(t, http.MethodGet, url, "", nil); resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("status %d, want the app's 500", resp.StatusCode)
		}
	}
	resp, body := do(t, http.MethodGet, url, "", nil)
	if msg := wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_DIRECT_INVOKE"); !strings.Contains(msg, "circuit breaker is open") {
		t.Errorf("message %q, want the open circuit", msg)
	}
	if n := app.hits.Load(); n != 2 {
		t.Fatalf("app hit %d times; an open circuit must fail fast", n)
	}
	healthy.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := do(t, http.MethodGet, url, "", nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the circuit never closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.State() != resiliency.Closed {
		t.Errorf("breaker %v after a successful probe, want closed", b.State())
	}
}

func TestAPIToken(t *testing.T) {
	app := newHitApp(t, func(int, http.ResponseWriter, *http.Request) {})
	pol := &staticPolicies{apps: map[string]*invoke.AppSettings{"orders": {AppToken: "app-secret"}}}
	s := newPolicyStack(t, Config{APIToken: "s3cret"}, pol, invoke.Options{}, map[string]*hitApp{"orders": app})
	url := s.httpURL + "/v1.0/invoke/orders/method/x"
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{name: "missing", want: http.StatusUnauthorized},
		{name: "wrong", header: http.Header{"Dapr-Api-Token": {"nope"}}, want: http.StatusUnauthorized},
		{name: "right", header: http.Header{"Dapr-Api-Token": {"s3cret"}}, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, url, "", tt.header)
			if tt.want == http.StatusUnauthorized {
				wantDaprError(t, resp, body, tt.want, "ERR_UNAUTHORIZED")
				return
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			// The app sees its own APP_API_TOKEN, never the caller's.
			if got := app.seen.Load().Values("Dapr-Api-Token"); len(got) != 1 || got[0] != "app-secret" {
				t.Errorf("app saw dapr-api-token %q, want [app-secret]", got)
			}
		})
	}
	for _, p := range []string{"/v1.0/healthz", "/v1.0/healthz/outbound"} {
		if resp, _ := do(t, http.MethodGet, s.httpURL+p, "", nil); resp.StatusCode != http.StatusNoContent {
			t.Errorf("GET %s without a token: %d, want 204", p, resp.StatusCode)
		}
	}
	// Nothing else hides behind the health paths.
	for _, tt := range []struct {
		path   string
		header http.Header
	}{
		{path: "/v1.0/healthz/../metadata"},
		{path: "/v1.0/healthz", header: http.Header{"Dapr-App-Id": {"orders"}}},
		// A state key that decodes to a way back to the health path.
		{path: "/v1.0/state/store/a%2F..%2F..%2F..%2F..%2Fv1.0%2Fhealthz"},
	} {
		resp, body := do(t, http.MethodGet, s.httpURL+tt.path, "", tt.header)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s %v without a token: %d %s, want 401", tt.path, tt.header, resp.StatusCode, body)
		}
	}

	// gRPC: a raw client without the token is refused; the official SDK
	// reads DAPR_API_TOKEN and gets through.
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = runtimev1pb.NewDaprClient(cc).GetMetadata(t.Context(), &runtimev1pb.GetMetadataRequest{})
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "missing api token in request metadata" {
		t.Errorf("gRPC without token: %v", err)
	}
	t.Setenv("DAPR_API_TOKEN", "s3cret")
	c, err := dapr.NewClientWithAddressContext(t.Context(), s.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.InvokeMethod(t.Context(), "orders", "x", "get"); err != nil {
		t.Errorf("SDK with DAPR_API_TOKEN: %v", err)
	}
	if got := app.seen.Load().Values("Dapr-Api-Token"); len(got) != 1 || got[0] != "app-secret" {
		t.Errorf("app saw dapr-api-token %q through gRPC, want [app-secret]", got)
	}
}

func TestAccessControl(t *testing.T) {
	app := newHitApp(t, func(int, http.ResponseWriter, *http.Request) {})
	deny := false
	acl := &invoke.AccessControl{Policies: map[string]*invoke.AccessPolicy{
		"frontend": {TrustDomain: "public", Namespace: "default", DefaultAllow: &deny, Operations: []invoke.AccessOperation{
			{Name: "/api/*", Verbs: []string{"GET"}, Allow: true},
			{Name: "/api/secret", Verbs: []string{"*"}, Allow: false},
			{Name: "/pub/**", Verbs: []string{"GET"}, Allow: true},
		}},
	}}
	s := newPolicyStack(t, Config{}, &staticPolicies{apps: map[string]*invoke.AppSettings{"orders": {Access: acl}}},
		invoke.Options{}, map[string]*hitApp{"orders": app})
	if resp, _ := do(t, http.MethodGet, s.httpURL+"/v1.0/invoke/orders/method/api/items", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("allowed GET: %d, want 200", resp.StatusCode)
	}
	resp, body := do(t, http.MethodPost, s.httpURL+"/v1.0/invoke/orders/method/api/items", "{}", nil)
	msg := wantDaprError(t, resp, body, http.StatusForbidden, "ERR_DIRECT_INVOKE")
	if !strings.Contains(msg, "access control policy has denied access to appid: frontend operation: api/items verb: POST") {
		t.Errorf("message %q", msg)
	}
	if n := app.hits.Load(); n != 1 {
		t.Errorf("app hit %d times; a denied call must not reach it", n)
	}
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = runtimev1pb.NewDaprClient(cc).InvokeService(t.Context(), &runtimev1pb.InvokeServiceRequest{Id: "orders",
		Message: &commonv1pb.InvokeRequest{Method: "admin/reset", HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_DELETE}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("denied gRPC invocation: %v, want PermissionDenied", err)
	}
	// The operation checked is the path the app gets: without the query a
	// method carries, with dot segments resolved.
	_, err = runtimev1pb.NewDaprClient(cc).InvokeService(t.Context(), &runtimev1pb.InvokeServiceRequest{Id: "orders",
		Message: &commonv1pb.InvokeRequest{Method: "api/secret?x=1", HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_GET}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("denied gRPC invocation with a query in the method: %v, want PermissionDenied", err)
	}
	resp, body = do(t, http.MethodGet, s.httpURL+"/v1.0/invoke/orders/method/api/x/../secret", "", nil)
	wantDaprError(t, resp, body, http.StatusForbidden, "ERR_DIRECT_INVOKE")
	// A dot segment behind a ";" parameter is one for the many app
	// frameworks that drop parameters first: /pub/..;/admin is /admin.
	for _, p := range []string{"pub/..;/admin", "pub/%2e%2e;/admin", "pub/..;x=1/api/secret"} {
		resp, body = do(t, http.MethodGet, s.httpURL+"/v1.0/invoke/orders/method/"+p, "", nil)
		wantDaprError(t, resp, body, http.StatusForbidden, "ERR_DIRECT_INVOKE")
	}
	if n := app.hits.Load(); n != 1 {
		t.Errorf("app hit %d times; a denied call must not reach it", n)
	}
}

func TestTraceContext(t *testing.T) {
	app := newHitApp(t, func(int, http.ResponseWriter, *http.Request) {})
	s := newPolicyStack(t, Config{}, &staticPolicies{}, invoke.Options{}, map[string]*hitApp{"orders": app})
	url := s.httpURL + "/v1.0/invoke/orders/method/x"
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	resp, _ := do(t, http.MethodGet, url, "", http.Header{"Traceparent": {tp}, "Tracestate": {"congo=t61rcWkgMzE"}})
	seen := app.seen.Load()
	if seen.Get("Traceparent") != tp || seen.Get("Tracestate") != "congo=t61rcWkgMzE" || resp.Header.Get("Traceparent") != tp {
		t.Errorf("kept trace: app saw %q %q, caller got %q", seen.Get("Traceparent"), seen.Get("Tracestate"), resp.Header.Get("Traceparent"))
	}

	resp, _ = do(t, http.MethodGet, url, "", nil)
	created := app.seen.Load().Get("Traceparent")
	if _, ok := tracecontext.Parse(created); !ok || resp.Header.Get("Traceparent") != created {
		t.Errorf("new trace: app saw %q, caller got %q; want one valid traceparent for both", created, resp.Header.Get("Traceparent"))
	}

	// gRPC API to an HTTP app: the metadata's trace reaches the app, and a
	// call without one gets one back in the response header.
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", tp)
	if _, err := runtimev1pb.NewDaprClient(cc).InvokeService(ctx, &runtimev1pb.InvokeServiceRequest{Id: "orders",
		Message: &commonv1pb.InvokeRequest{Method: "x"}}); err != nil {
		t.Fatal(err)
	}
	if got := app.seen.Load().Get("Traceparent"); got != tp {
		t.Errorf("gRPC to HTTP: app saw %q, want %q", got, tp)
	}
	var header metadata.MD
	if _, err := runtimev1pb.NewDaprClient(cc).InvokeService(t.Context(), &runtimev1pb.InvokeServiceRequest{Id: "orders",
		Message: &commonv1pb.InvokeRequest{Method: "x"}}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("traceparent"); len(got) != 1 || got[0] != app.seen.Load().Get("Traceparent") {
		t.Errorf("gRPC new trace: caller got %q, app saw %q", got, app.seen.Load().Get("Traceparent"))
	}
}

// tokenEcho is an app speaking gRPC that reports the dapr-api-token and
// traceparent it received in its response header.
type tokenEcho struct {
	testpb.UnimplementedTestServiceServer
}

func (tokenEcho) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-seen-token", strings.Join(md.Get("dapr-api-token"), ","),
		"x-seen-trace", strings.Join(md.Get("traceparent"), ",")))
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

func TestProxiedCallsPassTheCalleesRules(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, tokenEcho{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	deny := false
	acl := &invoke.AccessControl{Policies: map[string]*invoke.AccessPolicy{
		"frontend": {TrustDomain: "public", Namespace: "default", DefaultAllow: &deny, Operations: []invoke.AccessOperation{
			{Name: "/grpc.testing.TestService/UnaryCall", Allow: true},
		}},
	}}
	pol := &staticPolicies{apps: map[string]*invoke.AppSettings{"echo": {AppToken: "app-secret", Access: acl}}}
	s := newPolicyStack(t, Config{APIToken: "s3cret"}, pol, invoke.Options{}, nil, &routing.App{Name: "echo", DaprAppID: "echo",
		AppProtocol: "grpc", Endpoints: []routing.Endpoint{{App: "echo", Replica: "echo-1", Addr: l.Addr().String()}}})
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "echo", "dapr-api-token", "s3cret", "traceparent", tp)
	var header metadata.MD
	if _, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&header)); err != nil {
		t.Fatalf("allowed proxied call: %v", err)
	}
	if got := header.Get("x-seen-token"); len(got) != 1 || got[0] != "app-secret" {
		t.Errorf("app saw dapr-api-token %q, want only its APP_API_TOKEN", got)
	}
	if got := header.Get("x-seen-trace"); len(got) != 1 || got[0] != tp {
		t.Errorf("app saw traceparent %q, want %q", got, tp)
	}
	_, err = testpb.NewTestServiceClient(cc).EmptyCall(ctx, &testpb.Empty{})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "access control policy has denied access to appid: frontend") {
		t.Errorf("denied proxied call: %v", err)
	}
	noToken := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "echo")
	if _, err := testpb.NewTestServiceClient(cc).UnaryCall(noToken, &testpb.SimpleRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("proxied call without the API token: %v, want Unauthenticated", err)
	}
}

// The extended metadata takes at most MaxExtendedMetadata bytes of keys and
// values, over HTTP and gRPC; replacing an attribute counts its new size.
func TestExtendedMetadataCap(t *testing.T) {
	s := newPolicyStack(t, Config{}, &staticPolicies{}, invoke.Options{}, nil)
	half := strings.Repeat("v", MaxExtendedMetadata/2-1)
	for _, k := range []string{"a", "b"} {
		resp, body := do(t, http.MethodPut, s.httpURL+"/v1.0/metadata/"+k, half, nil)
		wantStatus(t, resp, body, http.StatusNoContent)
	}
	resp, body := do(t, http.MethodPut, s.httpURL+"/v1.0/metadata/c", "x", nil)
	if msg := wantDaprError(t, resp, body, http.StatusBadRequest, "ERR_METADATA_SET"); !strings.Contains(msg, `"c"`) {
		t.Errorf("message %q does not name the attribute", msg)
	}
	resp, body = do(t, http.MethodPut, s.httpURL+"/v1.0/metadata/a", strings.Repeat("w", 3<<20), nil)
	wantDaprError(t, resp, body, http.StatusBadRequest, "ERR_METADATA_SET")
	// Replacing one with a value of its size fits.
	resp, body = do(t, http.MethodPut, s.httpURL+"/v1.0/metadata/a", strings.Replace(half, "v", "w", 1), nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = runtimev1pb.NewDaprClient(cc).SetMetadata(t.Context(), &runtimev1pb.SetMetadataRequest{Key: "d", Value: "x"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("SetMetadata past the cap: %v, want InvalidArgument", err)
	}
	resp, body = do(t, http.MethodGet, s.httpURL+"/v1.0/metadata", "", nil)
	wantStatus(t, resp, body, http.StatusOK)
	if len(body) > MaxExtendedMetadata+4<<10 {
		t.Errorf("metadata of %d bytes", len(body))
	}
}
