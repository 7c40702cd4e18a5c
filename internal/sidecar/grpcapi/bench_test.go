package grpcapi_test

import (
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/state"
)

// BenchmarkGetStateSDKVsBlock compares one state read through the whole
// gRPC path (Dapr Go SDK → loopback → sidecar gRPC API → state block →
// in-memory store) with the same read on the block directly, alternating
// the two in each iteration so both see the same machine load. The ratio
// is the cost of the gRPC front end and the network hop.
func BenchmarkGetStateSDKVsBlock(b *testing.B) {
	s := newStack(b)
	c := s.sdk(b)
	ctx := b.Context()
	if err := c.SaveState(ctx, storeName, "bench-key", []byte(`{"n":1}`), nil); err != nil {
		b.Fatal(err)
	}
	var n int
	var tBlock, tSDK time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		it, err := s.state.Get(ctx, storeName, "bench-key", state.GetOptions{})
		if err != nil || !it.Found {
			b.Fatalf("block read: %v", err)
		}
		t1 := time.Now()
		item, err := c.GetState(ctx, storeName, "bench-key", nil)
		if err != nil || item.Value == nil {
			b.Fatalf("SDK read: %v", err)
		}
		tSDK += time.Since(t1)
		tBlock += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(tBlock.Nanoseconds())/float64(n), "block-ns/op")
	b.ReportMetric(float64(tSDK.Nanoseconds())/float64(n), "sdk-ns/op")
	b.ReportMetric(float64(tSDK)/float64(tBlock), "sdk/block")
}

// BenchmarkProxyVsDirect compares one unary gRPC call to an app through
// the sidecar's proxy (client → sidecar, dapr-app-id → app) with the same
// call made straight to the app, alternating the two. The ratio is the
// price of the extra hop and the frame relay.
func BenchmarkProxyVsDirect(b *testing.B) {
	s := newStack(b)
	appAddr := newTestServiceApp(b)
	direct, err := grpc.NewClient(appAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = direct.Close() })
	viaSidecar := testpb.NewTestServiceClient(s.conn(b))
	straight := testpb.NewTestServiceClient(direct)
	ctx := metadata.AppendToOutgoingContext(b.Context(), "dapr-app-id", "testsvc")
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}
	var n int
	var tDirect, tProxy time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := straight.UnaryCall(b.Context(), req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := viaSidecar.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
		tProxy += time.Since(t1)
		tDirect += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(tDirect.Nanoseconds())/float64(n), "direct-ns/call")
	b.ReportMetric(float64(tProxy.Nanoseconds())/float64(n), "sidecar-ns/call")
	b.ReportMetric(float64(tProxy)/float64(tDirect), "sidecar/direct")
}

// BenchmarkInvokeServiceVsDirect compares the SDK's InvokeMethodWithContent
// through the sidecar to a gRPC app's OnInvoke (client → sidecar →
// AppCallback/OnInvoke) with the same call on the app's OnInvoke directly.
func BenchmarkInvokeServiceVsDirect(b *testing.B) {
	s := newStack(b)
	c := s.sdk(b)
	appAddr := newSDKApp(b)
	direct, err := grpc.NewClient(appAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = direct.Close() })
	app := runtimev1pb.NewAppCallbackClient(direct)
	ctx := b.Context()
	msg := &commonv1pb.InvokeRequest{Method: "echo", Data: &anypb.Any{Value: []byte("x")}, ContentType: "text/plain",
		HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_POST}}
	content := &dapr.DataContent{Data: []byte("x"), ContentType: "text/plain"}
	var n int
	var tDirect, tSidecar time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := app.OnInvoke(ctx, msg); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.InvokeMethodWithContent(ctx, "greeter", "echo", "post", content); err != nil {
			b.Fatal(err)
		}
		tSidecar += time.Since(t1)
		tDirect += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(tDirect.Nanoseconds())/float64(n), "direct-ns/call")
	b.ReportMetric(float64(tSidecar.Nanoseconds())/float64(n), "sidecar-ns/call")
	b.ReportMetric(float64(tSidecar)/float64(tDirect), "sidecar/direct")
}
