package grpcapi_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// The proxy tests call grpc.testing.TestService, which the sidecar does not
// serve, through the sidecar with dapr-app-id metadata, as an app would.

func TestProxyUnary(t *testing.T) {
	s := newStack(t)
	client := testpb.NewTestServiceClient(s.conn(t))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "testsvc", "x-custom", "c1")

	var header metadata.MD
	resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hello")}}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.GetPayload().GetBody()) != "hello" {
		t.Errorf("payload %q", resp.GetPayload().GetBody())
	}
	want := map[string][]string{"x-seen-caller": {"frontend"}, "x-seen-custom": {"c1"}}
	for k, v := range want {
		if diff := cmp.Diff(v, header.Get(k)); diff != "" {
			t.Errorf("header %s (-want +got):\n%s", k, diff)
		}
	}

	// A large message goes through whole.
	big := bytes.Repeat([]byte("x"), 512<<10)
	resp, err = client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: big}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.GetPayload().GetBody(), big) {
		t.Errorf("large payload came back with %d bytes", len(resp.GetPayload().GetBody()))
	}
}

func TestProxyErrorWithTrailers(t *testing.T) {
	s := newStack(t)
	client := testpb.NewTestServiceClient(s.conn(t))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "testsvc")
	var header, trailer metadata.MD
	_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 13}, grpc.Header(&header), grpc.Trailer(&trailer))
	wantStatus(t, err, codes.NotFound, "order 13 does not exist")
	if diff := cmp.Diff([]string{"unlucky"}, trailer.Get("x-reason")); diff != "" {
		t.Errorf("trailer x-reason (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"frontend"}, header.Get("x-seen-caller")); diff != "" {
		t.Errorf("header x-seen-caller (-want +got):\n%s", diff)
	}
}

func TestProxyServerStreaming(t *testing.T) {
	s := newStack(t)
	client := testpb.NewTestServiceClient(s.conn(t))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "testsvc")
	sizes := []int32{1, 10, 100, 70000}
	req := &testpb.StreamingOutputCallRequest{}
	for _, n := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: n})
	}
	stream, err := client.StreamingOutputCall(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"out"}, h.Get("x-stream")); diff != "" {
		t.Errorf("header x-stream (-want +got):\n%s", diff)
	}
	var got []int32
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
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
	if diff := cmp.Diff([]string{"4"}, stream.Trailer().Get("x-sent")); diff != "" {
		t.Errorf("trailer x-sent (-want +got):\n%s", diff)
	}
}

func TestProxyClientStreaming(t *testing.T) {
	s := newStack(t)
	client := testpb.NewTestServiceClient(s.conn(t))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "testsvc")
	stream, err := client.StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range []int{3, 0, 5000, 17} {
		total += n
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if int(resp.GetAggregatedPayloadSize()) != total {
		t.Errorf("the app counted %d bytes, want %d", resp.GetAggregatedPayloadSize(), total)
	}
}

func TestProxyBidiStreaming(t *testing.T) {
	s := newStack(t)
	client := testpb.NewTestServiceClient(s.conn(t))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "testsvc")
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Ping-pong: each answer must arrive before the next request is sent,
	// which only works if the proxy relays frames as they come.
	for _, msg := range []string{"one", "two", "three"} {
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.GetPayload().GetBody()) != msg {
			t.Errorf("echo %q, want %q", resp.GetPayload().GetBody(), msg)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want EOF", err)
	}
}
