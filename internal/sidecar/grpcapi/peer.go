package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/cove-env/cove/internal/blocks/invoke"
)

// PeerConfig describes the gRPC side of a standalone sidecar's internal
// listener, where peer sidecars forward the gRPC calls their apps proxy
// with dapr-app-id metadata.
type PeerConfig struct {
	// AppID is the sidecar's app id: calls for another are refused.
	AppID string
	// Invoker dials the own app and applies its access control (required).
	Invoker Invoker
	// Caller returns the app id certified by the verified client
	// certificate of the connection a call arrived on (required); an error
	// refuses the call with PermissionDenied.
	Caller func(ctx context.Context) (string, error)
	// MaxMessageSize bounds relayed messages; default 4 MiB.
	MaxMessageSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// PeerServer relays gRPC calls arriving from peer sidecars to the own
// app's gRPC server, frame by frame, with the proxy of the gRPC API: the
// caller is the certified one, whatever the metadata says. It serves
// through ServeHTTP on the internal listener's HTTP/2 server, which owns
// the connections and their draining.
type PeerServer struct {
	srv *grpc.Server
}

// NewPeer builds the peer side's server.
func NewPeer(cfg PeerConfig) (*PeerServer, error) {
	if cfg.AppID == "" || cfg.Invoker == nil || cfg.Caller == nil {
		return nil, errors.New("grpcapi: peer server: app id, invoker and caller identity are required")
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = invoke.DefaultMaxMessageSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	errs := &Server{log: log}
	p := &proxy{appID: cfg.AppID, inv: cfg.Invoker, maxMsg: cfg.MaxMessageSize, log: log, certified: cfg.Caller}
	// No API token gate: the peer's certificate is the credential, and the
	// calling sidecar already checked its app's token and started the
	// trace the metadata carries.
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.MaxMessageSize),
		grpc.MaxSendMsgSize(cfg.MaxMessageSize),
		grpc.ForceServerCodecV2(frameCodec{}),
		grpc.UnknownServiceHandler(p.handle),
		grpc.ChainStreamInterceptor(errs.streamErrors),
	)
	return &PeerServer{srv: srv}, nil
}

// ServeHTTP serves one gRPC call: an HTTP/2 request whose content type is
// application/grpc or a subtype of it (IsGRPC).
func (s *PeerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.srv.ServeHTTP(w, r) }

// Stop cuts off the calls in flight. Drain the HTTP server first: a gRPC
// server served through ServeHTTP cannot drain (GracefulStop would panic).
func (s *PeerServer) Stop() { s.srv.Stop() }

// IsGRPC reports a request for a gRPC server: HTTP/2 with a gRPC content
// type.
func IsGRPC(r *http.Request) bool {
	if r.ProtoMajor != 2 {
		return false
	}
	// grpc-web and other look-alikes are not gRPC.
	rest, ok := strings.CutPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}
