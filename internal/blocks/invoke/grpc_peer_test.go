package invoke

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cove-env/cove/internal/security"
)

// A target behind a peer sidecar is dialled with the peer mTLS
// credentials, and only when its certificate names the callee.
func TestDialAppUsesPeerCredentials(t *testing.T) {
	ca, err := security.LoadOrCreateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.IssueWorkload("public", "default", "beta")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.IssueWorkload("public", "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{*serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
	})))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	pt, err := NewPeerTransport(PeerTransportOptions{
		Self: "alpha",
		TLS:  &tls.Config{Certificates: []tls.Certificate{*clientCert}, RootCAs: ca.Pool(), InsecureSkipVerify: true}, //nolint:gosec // checked by VerifyPeer
		VerifyPeer: func(cs *tls.ConnectionState, appID string) error {
			if len(cs.PeerCertificates) == 0 || len(cs.PeerCertificates[0].URIs) == 0 ||
				!strings.HasSuffix(cs.PeerCertificates[0].URIs[0].Path, "/"+appID) {
				return errors.New("peer is not " + appID)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := New(grpcResolver(ln.Addr().String()), Options{Transport: pt})
	t.Cleanup(func() { _ = inv.Close() })

	tests := []struct {
		name   string
		appID  string
		wantOK bool
	}{
		{name: "the peer named in the certificate", appID: "beta", wantOK: true},
		{name: "a stale registration pointing at another sidecar", appID: "gamma", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := inv.DialApp(t.Context(), tt.appID)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
			if (err == nil) != tt.wantOK {
				t.Errorf("health check over the peer connection: err = %v, want ok %v", err, tt.wantOK)
			}
			if conn.pc != nil {
				t.Error("a peer connection went to the pool of plain-text replica connections")
			}
		})
	}
	if n := inv.conns.size(); n != 0 {
		t.Errorf("pool holds %d connections, want none for peers", n)
	}
}
