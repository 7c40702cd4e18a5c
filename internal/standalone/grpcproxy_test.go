package standalone_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/standalone"
)

// The tests here call grpc.testing.TestService, served by an app behind a
// second sidecar, through the first sidecar's gRPC port with dapr-app-id
// metadata, as an app calling another with a raw gRPC client does.

// testService reports in its response header who called it, as its
// sidecar told it, and the app token it was given.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func seen(ctx context.Context) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx)
	return metadata.Pairs(
		"x-seen-caller", strings.Join(md.Get("dapr-caller-app-id"), ","),
		"x-seen-callee", strings.Join(md.Get("dapr-callee-app-id"), ","),
		"x-seen-token", strings.Join(md.Get("dapr-api-token"), ","),
		"x-seen-custom", strings.Join(md.Get("x-custom"), ","))
}

// UnaryCall echoes the payload; a response size of 13 fails with
// NotFound, error details and a trailer.
func (testService) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	_ = grpc.SetHeader(ctx, seen(ctx))
	if in.GetResponseSize() == 13 {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-reason", "unlucky"))
		st, err := status.New(codes.NotFound, "order 13 does not exist").
			WithDetails(&errdetails.ErrorInfo{Reason: "NO_ORDER", Domain: "orders.example"})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

// StreamingOutputCall sends one response per requested size.
func (testService) StreamingOutputCall(in *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	_ = ss.SendHeader(seen(ss.Context()))
	for _, p := range in.GetResponseParameters() {
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
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
		if errors.Is(err, io.EOF) {
			return ss.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(in.GetPayload().GetBody())
	}
}

// FullDuplexCall answers each request as soon as it arrives.
func (testService) FullDuplexCall(ss grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		in, err := ss.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		body := append([]byte("echo "), in.GetPayload().GetBody()...)
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
}

func startTestService(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testService{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

// grpcClient is a raw gRPC client of addr, closed with the test.
func grpcClient(t *testing.T, addr string, creds credentials.TransportCredentials) testpb.TestServiceClient {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

func grpcAppOpts(o *standalone.Options) { o.AppProtocol = "grpc" }

// callContext bounds a call, so a relay that holds frames back fails the
// test instead of hanging it.
func callContext(t *testing.T, kv ...string) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func TestGRPCProxyAcrossSidecars(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	w.start(t, "beta", startTestService(t), grpcAppOpts)
	client := grpcClient(t, alpha.GRPCAddr(), nil)
	toBeta := func(kv ...string) context.Context {
		return callContext(t, append([]string{"dapr-app-id", "beta"}, kv...)...)
	}

	t.Run("unary", func(t *testing.T) {
		tests := []struct {
			name string
			kv   []string
		}{
			{name: "identity stamped", kv: []string{"x-custom", "c1"}},
			{name: "spoofed caller replaced by the certified one", kv: []string{"x-custom", "c1", "dapr-caller-app-id", "mallory"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var header metadata.MD
				resp, err := client.UnaryCall(toBeta(tc.kv...), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hello")}},
					grpc.Header(&header))
				if err != nil {
					t.Fatal(err)
				}
				if string(resp.GetPayload().GetBody()) != "hello" {
					t.Errorf("payload %q; want hello", resp.GetPayload().GetBody())
				}
				got := map[string][]string{}
				for _, k := range []string{"x-seen-caller", "x-seen-callee", "x-seen-custom"} {
					got[k] = header.Get(k)
				}
				want := map[string][]string{"x-seen-caller": {"alpha"}, "x-seen-callee": {"beta"}, "x-seen-custom": {"c1"}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("app saw (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("error with details and trailers", func(t *testing.T) {
		var header, trailer metadata.MD
		_, err := client.UnaryCall(toBeta(), &testpb.SimpleRequest{ResponseSize: 13}, grpc.Header(&header), grpc.Trailer(&trailer))
		st := status.Convert(err)
		if st.Code() != codes.NotFound || st.Message() != "order 13 does not exist" {
			t.Fatalf("status %v; want NotFound: order 13 does not exist", st)
		}
		var reasons []string
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reasons = append(reasons, info.GetDomain()+"/"+info.GetReason())
			}
		}
		if diff := cmp.Diff([]string{"orders.example/NO_ORDER"}, reasons); diff != "" {
			t.Errorf("error details (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"unlucky"}, trailer.Get("x-reason")); diff != "" {
			t.Errorf("trailer x-reason (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"alpha"}, header.Get("x-seen-caller")); diff != "" {
			t.Errorf("header x-seen-caller (-want +got):\n%s", diff)
		}
	})

	t.Run("server streaming", func(t *testing.T) {
		sizes := []int32{1, 10, 100, 70000}
		req := &testpb.StreamingOutputCallRequest{}
		for _, n := range sizes {
			req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: n})
		}
		stream, err := client.StreamingOutputCall(toBeta(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []int32
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, int32(len(resp.GetPayload().GetBody())))
		}
		if diff := cmp.Diff(sizes, got); diff != "" {
			t.Errorf("message sizes (-want +got):\n%s", diff)
		}
		h, err := stream.Header()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"alpha"}, h.Get("x-seen-caller")); diff != "" {
			t.Errorf("header x-seen-caller (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"4"}, stream.Trailer().Get("x-sent")); diff != "" {
			t.Errorf("trailer x-sent (-want +got):\n%s", diff)
		}
	})

	t.Run("client streaming", func(t *testing.T) {
		stream, err := client.StreamingInputCall(toBeta())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{3, 5, 100000} {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAggregatedPayloadSize() != 100008 {
			t.Errorf("aggregated size %d; want 100008", resp.GetAggregatedPayloadSize())
		}
	})

	t.Run("bidi stream in lockstep", func(t *testing.T) {
		stream, err := client.FullDuplexCall(toBeta())
		if err != nil {
			t.Fatal(err)
		}
		// Each answer must arrive before the next request is sent: nothing
		// on the way may hold frames back until the stream ends.
		for i := range 5 {
			msg := "ping " + strconv.Itoa(i)
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("answer to %q: %v", msg, err)
			}
			if got := string(resp.GetPayload().GetBody()); got != "echo "+msg {
				t.Fatalf("answer %q; want %q", got, "echo "+msg)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("after CloseSend: %v; want EOF", err)
		}
	})

	t.Run("unknown app", func(t *testing.T) {
		ctx := callContext(t, "dapr-app-id", "nobody")
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
		if st := status.Convert(err); st.Code() == codes.OK || !strings.Contains(st.Message(), "couldn't find service") {
			t.Errorf("status %v; want couldn't find service", st)
		}
	})
}

// The internal listener takes a gRPC caller's id from its certificate and
// serves only its own app, whatever a peer's metadata says.
func TestGRPCInternalListenerTrustsOnlyTheCertificate(t *testing.T) {
	w := newWorld(t)
	beta := w.start(t, "beta", startTestService(t), grpcAppOpts)
	ca, err := security.LoadOrCreateDir(w.caDir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueWorkload(standalone.DefaultTrustDomain, "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{*cert}, RootCAs: ca.Pool(),
		InsecureSkipVerify: true, //nolint:gosec // the server's identity is not what is tested
	})
	client := grpcClient(t, beta.Registration().Address, creds)

	tests := []struct {
		name       string
		kv         []string
		wantCode   codes.Code
		wantCaller string
	}{
		{name: "caller from the certificate", kv: []string{"dapr-callee-app-id", "beta", "dapr-caller-app-id", "mallory"},
			wantCode: codes.OK, wantCaller: "alpha"},
		{name: "dapr-app-id alone names the callee", kv: []string{"dapr-app-id", "beta"}, wantCode: codes.OK, wantCaller: "alpha"},
		{name: "another app through this sidecar", kv: []string{"dapr-callee-app-id", "gamma"}, wantCode: codes.NotFound},
		{name: "no target", wantCode: codes.Unimplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header metadata.MD
			ctx := callContext(t, tc.kv...)
			_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&header))
			if code := status.Code(err); code != tc.wantCode {
				t.Fatalf("code %v (%v); want %v", code, err, tc.wantCode)
			}
			if tc.wantCode == codes.OK {
				if diff := cmp.Diff([]string{tc.wantCaller}, header.Get("x-seen-caller")); diff != "" {
					t.Errorf("caller the app saw (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestGRPCProxyAccessControlAcrossSidecars(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(w.dir, "beta-config.yaml")
	acl := `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: beta
spec:
  accessControl:
    defaultAction: deny
    policies:
    - appId: alpha
      trustDomain: public
      namespace: default
      defaultAction: deny
      operations:
      - name: /grpc.testing.TestService/UnaryCall
        action: allow
    - appId: trusted
      trustDomain: public
      namespace: default
      defaultAction: allow
`
	if err := os.WriteFile(cfg, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	alpha := w.start(t, "alpha", startApp(t, "alpha"), func(o *standalone.Options) { o.APIToken = "alpha-token" })
	gamma := w.start(t, "gamma", startApp(t, "gamma"))
	w.start(t, "beta", startTestService(t), grpcAppOpts, func(o *standalone.Options) {
		o.ConfigPath, o.AppAPIToken = cfg, "beta-app-token"
	})
	fromAlpha := grpcClient(t, alpha.GRPCAddr(), nil)
	fromGamma := grpcClient(t, gamma.GRPCAddr(), nil)

	tests := []struct {
		name      string
		client    testpb.TestServiceClient
		kv        []string
		streaming bool
		wantCode  codes.Code
		wantMsg   string
		wantToken string
	}{
		{name: "allowed method carries the callee's app token, not the caller's", client: fromAlpha,
			kv: []string{"dapr-api-token", "alpha-token"}, wantCode: codes.OK, wantToken: "beta-app-token"},
		{name: "no API token", client: fromAlpha, wantCode: codes.Unauthenticated, wantMsg: "missing api token"},
		{name: "method the policy denies", client: fromAlpha, kv: []string{"dapr-api-token", "alpha-token"}, streaming: true,
			wantCode: codes.PermissionDenied, wantMsg: "access control policy has denied access to appid: alpha"},
		{name: "caller the policy does not name", client: fromGamma,
			wantCode: codes.PermissionDenied, wantMsg: "access control policy has denied access to appid: gamma"},
		{name: "spoofed caller metadata does not lift a denial", client: fromGamma, kv: []string{"dapr-caller-app-id", "trusted"},
			wantCode: codes.PermissionDenied, wantMsg: "access control policy has denied access to appid: gamma"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := callContext(t, append([]string{"dapr-app-id", "beta"}, tc.kv...)...)
			var header metadata.MD
			var err error
			if tc.streaming {
				var stream grpc.ServerStreamingClient[testpb.StreamingOutputCallResponse]
				if stream, err = tc.client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{}); err == nil {
					_, err = stream.Recv()
				}
			} else {
				_, err = tc.client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&header))
			}
			st := status.Convert(err)
			if st.Code() != tc.wantCode || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("status %v; want %v with %q", st, tc.wantCode, tc.wantMsg)
			}
			if tc.wantCode == codes.OK {
				if diff := cmp.Diff([]string{tc.wantToken}, header.Get("x-seen-token")); diff != "" {
					t.Errorf("token the app saw (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestGRPCProxyFindsReplacedSidecar restarts the only sidecar of a gRPC
// app: the first call after the restart goes to the old address, which
// the caller remembers, and fails Unavailable; the caller forgets it, and
// the next call reaches the new sidecar.
func TestGRPCProxyFindsReplacedSidecar(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"), func(o *standalone.Options) { o.NameCacheFor = time.Hour })
	old := w.start(t, "beta", startTestService(t), grpcAppOpts)
	client := grpcClient(t, alpha.GRPCAddr(), nil)
	call := func() error {
		_, err := client.UnaryCall(callContext(t, "dapr-app-id", "beta"), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hi")}})
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.start(t, "beta", startTestService(t), grpcAppOpts)
	if err := call(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the first call after the restart: %v; want Unavailable from the old address", err)
	}
	if err := call(); err != nil {
		t.Fatalf("the next call: %v; want the new sidecar", err)
	}
}
