package standalone_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/standalone"
)

// grpcApp answers OnInvoke with the method, the caller and the data.
type grpcApp struct {
	runtimev1pb.UnimplementedAppCallbackServer
}

func (grpcApp) OnInvoke(ctx context.Context, in *commonv1pb.InvokeRequest) (*commonv1pb.InvokeResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	caller := strings.Join(md.Get("dapr-caller-app-id"), ",")
	out := fmt.Sprintf("grpc %s %s from %s: %s", in.GetHttpExtension().GetVerb(), in.GetMethod(), caller, in.GetData().GetValue())
	return &commonv1pb.InvokeResponse{Data: &anypb.Any{Value: []byte(out)}, ContentType: "text/plain"}, nil
}

func startGRPCApp(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimev1pb.RegisterAppCallbackServer(srv, grpcApp{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

// An app speaking gRPC behind a peer sidecar is called on OnInvoke by its
// own sidecar, which gets the call over HTTP/2 from the caller's.
func TestPeerWithGRPCApp(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	w.start(t, "beta", startGRPCApp(t), func(o *standalone.Options) { o.AppProtocol = "grpc" })

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut,
		"http://"+alpha.HTTPAddr()+"/v1.0/invoke/beta/method/orders", strings.NewReader("payload"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := "grpc PUT orders from alpha: payload"
	if resp.StatusCode != http.StatusOK || string(b) != want {
		t.Errorf("status %d, body %q; want 200 %q", resp.StatusCode, b, want)
	}
}
