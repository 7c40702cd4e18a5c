package invoke

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/resiliency"
)

// testPolicies apply one resiliency policy to every call and settings by
// app id.
type testPolicies struct {
	p    *resiliency.Policy
	apps map[string]*AppSettings
}

func (t testPolicies) Resiliency(string, string) *resiliency.Policy { return t.p }
func (t testPolicies) App(id string) *AppSettings                   { return t.apps[id] }

func retryTwice(matching ...resiliency.CodeRange) *resiliency.Policy {
	r := &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Millisecond, MaxRetries: 2}
	if matching != nil {
		r.GRPCStatusCodes = matching
	}
	return &resiliency.Policy{Retry: r}
}

// flakyCallback fails its first two calls with Unavailable.
type flakyCallback struct {
	runtimev1pb.UnimplementedAppCallbackServer
	calls atomic.Int32
	token atomic.Value
}

func (f *flakyCallback) OnInvoke(ctx context.Context, in *commonv1pb.InvokeRequest) (*commonv1pb.InvokeResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.token.Store(strings.Join(md.Get("dapr-api-token"), ","))
	if f.calls.Add(1) <= 2 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &commonv1pb.InvokeResponse{Data: &anypb.Any{Value: in.GetData().GetValue()}}, nil
}

func startFlakyCallback(t *testing.T) (*flakyCallback, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &flakyCallback{}
	srv := grpc.NewServer()
	runtimev1pb.RegisterAppCallbackServer(srv, app)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return app, l.Addr().String()
}

func TestInvokeMessageRetriesGRPCCodes(t *testing.T) {
	tests := []struct {
		name      string
		policy    *resiliency.Policy
		wantCalls int32
		wantCode  codes.Code
	}{
		{name: "unavailable retried", policy: retryTwice(resiliency.CodeRange{From: 14, To: 14}), wantCalls: 3, wantCode: codes.OK},
		{name: "code not matched", policy: retryTwice(resiliency.CodeRange{From: 2, To: 2}), wantCalls: 1, wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, addr := startFlakyCallback(t)
			inv := New(grpcResolver(addr), Options{})
			t.Cleanup(func() { _ = inv.Close() })
			inv.SetPolicies(testPolicies{p: tt.policy, apps: map[string]*AppSettings{"greeter": {AppToken: "tok"}}})
			res, err := inv.InvokeMessage(t.Context(), &MessageRequest{AppID: "greeter", CallerAppID: "frontend",
				Metadata: metadata.Pairs("dapr-api-token", "callers-own"),
				Message:  &commonv1pb.InvokeRequest{Method: "hello", Data: &anypb.Any{Value: []byte("hi")}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status.Code() != tt.wantCode || app.calls.Load() != tt.wantCalls {
				t.Errorf("status %v after %d calls, want %v after %d", res.Status.Code(), app.calls.Load(), tt.wantCode, tt.wantCalls)
			}
			if got := app.token.Load(); got != "tok" {
				t.Errorf("app saw dapr-api-token %q, want its own APP_API_TOKEN only", got)
			}
		})
	}
}

func TestInvokeRetriesHTTPToGRPCAppWithBody(t *testing.T) {
	app, addr := startFlakyCallback(t)
	inv := New(grpcResolver(addr), Options{})
	t.Cleanup(func() { _ = inv.Close() })
	inv.SetPolicies(testPolicies{p: retryTwice()})
	resp, err := inv.Invoke(t.Context(), &Request{AppID: "greeter", Method: http.MethodPost, Path: "hello",
		Body: io.NopCloser(strings.NewReader("payload")), ContentLength: 7, CallerAppID: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.Status != http.StatusOK || string(body) != "payload" || app.calls.Load() != 3 {
		t.Errorf("got %d %q after %d calls, want 200 payload after 3 (body replayed)", resp.Status, body, app.calls.Load())
	}
}

func TestStreamedBodyIsSentOnce(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	inv := New(&addrs{apps: map[string][]string{"orders": {srv.Listener.Addr().String()}}}, Options{})
	inv.SetPolicies(testPolicies{p: retryTwice()})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("chunk"))
		_ = pw.Close()
	}()
	resp, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodPost, Path: "/x",
		Header: http.Header{}, Body: pr, ContentLength: -1, CallerAppID: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Status != http.StatusServiceUnavailable || hits.Load() != 1 {
		t.Errorf("got %d after %d hits; a stream must be sent once", resp.Status, hits.Load())
	}
}

func TestTimeoutCoversTheStreamedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never finishes the body
	}))
	t.Cleanup(srv.Close)
	inv := New(&addrs{apps: map[string][]string{"orders": {srv.Listener.Addr().String()}}}, Options{})
	inv.SetPolicies(testPolicies{p: &resiliency.Policy{Timeout: 100 * time.Millisecond}})
	resp, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodGet, Path: "/x", CallerAppID: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a body the app never finishes succeeded; the timeout must cut it")
	}
}

func TestSelfPolicies(t *testing.T) {
	pol := &resiliency.Policy{Timeout: time.Second}
	all := testPolicies{p: pol, apps: map[string]*AppSettings{"me": {AppToken: "a"}, "peer": {AppToken: "b"}}}
	s := SelfPolicies("me", all)
	tests := []struct {
		name           string
		caller, target string
		want           *resiliency.Policy
	}{
		{name: "own outbound call", caller: "me", target: "peer", want: pol},
		{name: "peer calling in", caller: "peer", target: "me", want: nil},
		{name: "own app through itself", caller: "me", target: "me", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Resiliency(tt.caller, tt.target); got != tt.want {
				t.Errorf("Resiliency(%s, %s) = %v, want %v", tt.caller, tt.target, got, tt.want)
			}
		})
	}
	if s.App("me") == nil || s.App("peer") != nil {
		t.Error("callee rules must be the own app's only")
	}
}
