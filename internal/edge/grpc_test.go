package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/h1"
	"github.com/cove-env/cove/internal/routing"
)

// testService implements the four kinds of gRPC call, with errors that
// travel in trailers.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (testService) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if st := in.GetResponseStatus(); st != nil && st.Code != 0 {
		// No message before the error: a trailers-only response.
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

func (testService) StreamingOutputCall(in *testgrpc.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for _, p := range in.ResponseParameters {
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.Size)}}); err != nil {
			return err
		}
	}
	if st := in.GetResponseStatus(); st != nil && st.Code != 0 {
		// Messages, then an error with custom trailer metadata.
		s.SetTrailer(metadata.Pairs("x-failed-after", "messages"))
		return status.Error(codes.Code(st.Code), st.Message)
	}
	return nil
}

func (testService) StreamingInputCall(s grpc.ClientStreamingServer[testgrpc.StreamingInputCallRequest, testgrpc.StreamingInputCallResponse]) error {
	total := 0
	for {
		in, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(in.GetPayload().GetBody())
	}
}

func (testService) FullDuplexCall(s grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		in, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

// grpcReplica serves testService over h2c, as a gRPC app in a container
// does behind ACA's ingress with transport http2.
func grpcReplica(t testing.TB, app, name string) routing.Endpoint {
	t.Helper()
	ln := listen(t)
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, testService{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return routing.Endpoint{App: app, Revision: app + "--1", Replica: name, Addr: ln.Addr().String()}
}

func TestGRPCThroughEdge(t *testing.T) {
	env := serveEnv(t, Options{},
		appWith("greeter", routing.Ingress{AllowInsecure: true, Transport: routing.TransportHTTP2}, grpcReplica(t, "greeter", "greeter-a")),
	)
	tests := []struct {
		name string
		addr string
		opts []grpc.DialOption
	}{
		{"h2 over TLS", env.https, []grpc.DialOption{
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: env.ca.Pool(), ServerName: "greeter.localhost"})),
		}},
		{"h2c on the public listener", env.http, []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("greeter.localhost"),
		}},
		{"h2c on the internal proxy", env.internal, []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("greeter"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := grpc.NewClient("passthrough:///"+tt.addr, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			grpcCalls(t, testgrpc.NewTestServiceClient(conn))
		})
	}
}

func grpcCalls(t *testing.T, c testgrpc.TestServiceClient) {
	ctx := t.Context()
	payload := func(s string) *testgrpc.Payload { return &testgrpc.Payload{Body: []byte(s)} }

	t.Run("unary", func(t *testing.T) {
		res, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload("hello")})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.GetPayload().GetBody()); got != "hello" {
			t.Errorf("payload %q", got)
		}
	})
	t.Run("unary error, trailers only", func(t *testing.T) {
		_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such patient"}})
		if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such patient" {
			t.Errorf("status %v %q, want NotFound \"no such patient\"", st.Code(), st.Message())
		}
	})
	t.Run("server streaming", func(t *testing.T) {
		s, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
			ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 20}, {Size: 300}, {Size: 70000}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(m.GetPayload().GetBody()))
		}
		if diff := cmp.Diff([]int{1, 20, 300, 70000}, sizes); diff != "" {
			t.Errorf("message sizes (-want +got):\n%s", diff)
		}
	})
	t.Run("server streaming error with trailers", func(t *testing.T) {
		s, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
			ResponseParameters: []*testgrpc.ResponseParameters{{Size: 5}, {Size: 5}},
			ResponseStatus:     &testgrpc.EchoStatus{Code: int32(codes.ResourceExhausted), Message: "quota"},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err = s.Recv()
			if err != nil {
				break
			}
			n++
		}
		if st := status.Convert(err); n != 2 || st.Code() != codes.ResourceExhausted || st.Message() != "quota" {
			t.Errorf("got %d messages then %v %q, want 2 then ResourceExhausted \"quota\"", n, st.Code(), st.Message())
		}
		if got := s.Trailer().Get("x-failed-after"); !cmp.Equal(got, []string{"messages"}) {
			t.Errorf("trailer x-failed-after = %q", got)
		}
	})
	t.Run("client streaming", func(t *testing.T) {
		s, err := c.StreamingInputCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{3, 500, 40000} {
			if err := s.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, size)}}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if res.AggregatedPayloadSize != 40503 {
			t.Errorf("aggregated size %d, want 40503", res.AggregatedPayloadSize)
		}
	})
	t.Run("bidirectional streaming, in lockstep", func(t *testing.T) {
		s, err := c.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Each reply is awaited before the next send, so this only passes
		// if the edge streams both directions at once.
		for _, msg := range []string{"one", "two", "three"} {
			if err := s.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload(msg)}); err != nil {
				t.Fatal(err)
			}
			m, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(m.GetPayload().GetBody()); got != msg {
				t.Errorf("echo %q, want %q", got, msg)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("end of stream: %v, want io.EOF", err)
		}
	})
	t.Run("unknown method", func(t *testing.T) {
		_, err := c.EmptyCall(ctx, &testgrpc.Empty{})
		if st := status.Convert(err); st.Code() != codes.Unimplemented {
			t.Errorf("status %v, want Unimplemented", st.Code())
		}
	})
}

var _ net.Listener = (*h1.ConnListener)(nil)
