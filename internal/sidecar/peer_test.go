package sidecar_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/sidecar"
)

// httpOnlyInvoker can invoke the app over HTTP but not dial it for gRPC.
type httpOnlyInvoker struct{}

func (httpOnlyInvoker) Invoke(context.Context, *invoke.Request) (*invoke.Response, error) {
	return nil, invoke.ErrAppNotFound
}

// A gRPC call reaching a peer server whose invoker cannot dial the app is
// answered with a gRPC status, not an HTTP error the client cannot read.
func TestPeerServerGRPCWithoutDialer(t *testing.T) {
	ca, err := security.LoadOrCreateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := sidecar.NewPeerTLS(ca, "public", "default", "beta")
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := sidecar.NewPeerTLS(ca, "public", "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sidecar.NewPeerServer(sidecar.PeerServerConfig{AppID: "beta", Listener: ln, TLS: serverTLS, Invoker: httpOnlyInvoker{}})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	cc, err := grpc.NewClient("passthrough:///"+p.Addr(),
		grpc.WithTransportCredentials(credentials.NewTLS(clientTLS.ClientConfig())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "dapr-callee-app-id", "beta")
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "cannot dial its app") {
		t.Errorf("status %v; want Unimplemented: cannot dial its app", st)
	}
}

var _ sidecar.Invoker = httpOnlyInvoker{}
