package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// StateAPI is what the gRPC API needs of the state building block; the
// signatures are those of state.Service.
type StateAPI interface {
	Get(ctx context.Context, store, key string, opts state.GetOptions) (*state.Item, error)
	BulkGet(ctx context.Context, store string, keys []string, opts state.BulkGetOptions) ([]state.BulkItem, error)
	Save(ctx context.Context, store string, items []state.SaveItem) error
	Delete(ctx context.Context, store string, item state.DeleteItem) error
	Transact(ctx context.Context, store string, ops []state.TxOperation, metadata map[string]string) error
	Query(ctx context.Context, store string, query []byte, metadata map[string]string) (*state.QueryResponse, error)
}

// Invoker is what the gRPC API needs of the invocation building block
// (*invoke.Invoker).
type Invoker interface {
	InvokeMessage(ctx context.Context, req *invoke.MessageRequest) (*invoke.MessageResponse, error)
	DialApp(ctx context.Context, appID string) (*invoke.AppConn, error)
}

// Host is the sidecar the API belongs to.
type Host interface {
	// MetadataResponse is what GetMetadata answers.
	MetadataResponse() *runtimev1pb.GetMetadataResponse
	// SetExtendedMetadata records an attribute set with SetMetadata; its
	// error is a *daprerr.Error.
	SetExtendedMetadata(key, value string) error
	// Shutdown stops the sidecar after the Shutdown call has returned.
	Shutdown()
}

// Config describes one sidecar's gRPC API.
type Config struct {
	// AppID is the sidecar's app id, the caller of its invocations.
	AppID string
	// State may be nil when no state store is in scope.
	State StateAPI
	// Secrets may be nil when no secret store is in scope.
	Secrets SecretsAPI
	// Lock may be nil when no lock store is in scope.
	Lock LockAPI
	// Bindings may be nil when no output binding is in scope.
	Bindings BindingsAPI
	// Pubsub may be nil when no pub/sub component is in scope.
	Pubsub PubsubAPI
	// Configuration may be nil when no configuration store is in scope.
	Configuration ConfigurationAPI
	// Actors may be nil without a placement; ActorHost is the sidecar's
	// own host of actors, nil while its app hosts none.
	Actors    ActorsAPI
	ActorHost func() *actors.Host
	// HostActorStream hosts the actors of a gRPC app that opens the actor
	// callback stream; nil refuses the stream, as daprd does for an HTTP
	// app.
	HostActorStream ActorStreamHost
	// Invoker may be nil; invocations then fail with
	// ERR_DIRECT_INVOKE_NOT_READY.
	Invoker Invoker
	// Jobs may be nil without a scheduler.
	Jobs JobsAPI
	// Host is required.
	Host Host
	// MaxMessageSize bounds received and sent messages, the HTTP API's
	// request body limit (daprd's --max-body-size); default 4 MiB.
	MaxMessageSize int
	// MaxHeaderListSize bounds request metadata, like the HTTP API's header
	// limit; anything below 16 KiB is raised to it.
	MaxHeaderListSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// APIToken, when set, is required in every call's dapr-api-token
	// metadata (DAPR_API_TOKEN; see interceptors.go).
	APIToken string
	// TraceSampling is the share of new traces marked sampled, 0 to 1.
	TraceSampling float64
	// CallLog, when set, receives a line for every call at info level, as
	// daprd's --enable-api-logging writes.
	CallLog *slog.Logger
	// CallMetrics, when set, records every call once completed.
	CallMetrics CallRecorder
}

// CallRecorder records completed calls (*metrics.Sidecar does): the full
// method, the status code's name, and for a unary call the sizes of its
// request and response messages (-1 for a stream).
type CallRecorder interface {
	GRPCServed(method, code string, elapsed time.Duration, recvSize, sentSize int)
}

// Server serves one sidecar's Dapr gRPC API.
type Server struct {
	srv *grpc.Server
	log *slog.Logger
	// stopping ends at Stop: streams that last as long as their caller
	// wants (configuration subscriptions) end with it, so a graceful stop
	// does not wait for them.
	stopping context.Context
	stop     context.CancelFunc
}

// New builds the server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil {
		return nil, errors.New("grpcapi: a host is required")
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = invoke.DefaultMaxMessageSize
	}
	// gRPC clients send more metadata than HTTP clients send headers
	// (user agent, timeouts, trace context): never go below 16 KiB.
	headerList := max(cfg.MaxHeaderListSize, 16<<10)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log}
	s.stopping, s.stop = context.WithCancel(context.Background())
	p := &proxy{appID: cfg.AppID, inv: cfg.Invoker, maxMsg: cfg.MaxMessageSize, log: log}
	const infinity = time.Duration(math.MaxInt64)
	gate := callGate{cfg.APIToken, cfg.TraceSampling}
	unary := []grpc.UnaryServerInterceptor{s.unaryErrors, gate.unary}
	stream := []grpc.StreamServerInterceptor{s.streamErrors, gate.stream}
	if cfg.CallLog != nil {
		l := apiLog{cfg.CallLog}
		unary = append([]grpc.UnaryServerInterceptor{l.unary}, unary...)
		stream = append([]grpc.StreamServerInterceptor{l.stream}, stream...)
	}
	if cfg.CallMetrics != nil {
		m := callMetrics{cfg.CallMetrics}
		unary = append([]grpc.UnaryServerInterceptor{m.unary}, unary...)
		stream = append([]grpc.StreamServerInterceptor{m.stream}, stream...)
	}
	s.srv = grpc.NewServer(
		// daprd's keepalive policy: clients may ping every 8 s even when
		// idle; idle connections are closed after 3 minutes.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 8 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     3 * time.Minute,
			MaxConnectionAge:      infinity,
			MaxConnectionAgeGrace: infinity,
			Time:                  10 * time.Second,
			Timeout:               5 * time.Second,
		}),
		grpc.MaxRecvMsgSize(cfg.MaxMessageSize),
		grpc.MaxSendMsgSize(cfg.MaxMessageSize),
		grpc.MaxHeaderListSize(uint32(headerList)),
		// The proxy relays frames without decoding them; the codec hands
		// every other message to the proto codec.
		grpc.ForceServerCodecV2(frameCodec{}),
		grpc.UnknownServiceHandler(p.handle),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)
	runtimev1pb.RegisterDaprServer(s.srv, &api{
		appID: cfg.AppID, state: cfg.State, secrets: cfg.Secrets, lock: cfg.Lock, bindings: cfg.Bindings, stopping: s.stopping, pubsub: cfg.Pubsub, conf: cfg.Configuration, inv: cfg.Invoker,
		host: cfg.Host, log: log, actors: cfg.Actors, self: cfg.ActorHost, jobs: cfg.Jobs, hostActors: cfg.HostActorStream,
	})
	return s, nil
}

// Serve accepts connections on l until Stop; it returns nil after Stop.
func (s *Server) Serve(l net.Listener) error {
	if err := s.srv.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("dapr gRPC API: %w", err)
	}
	return nil
}

// Stop stops accepting calls and waits, until ctx ends, for those in
// flight; then it cuts the rest off.
func (s *Server) Stop(ctx context.Context) error {
	s.stop()
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		return fmt.Errorf("dapr gRPC API: graceful stop: %w", ctx.Err())
	}
}

func (s *Server) unaryErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, s.toStatus(ctx, info.FullMethod, absentError(info.FullMethod, req, err))
	}
	return resp, nil
}

func (s *Server) streamErrors(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := handler(srv, ss); err != nil {
		return s.toStatus(ss.Context(), info.FullMethod, absentError(info.FullMethod, nil, err))
	}
	return nil
}

// absentError turns the embedded server's Unimplemented for a building
// block cove does not run yet into daprd's answer (see absent).
func absentError(method string, req any, err error) error {
	if status.Code(err) != codes.Unimplemented {
		return err
	}
	if f := absent[method]; f != nil {
		return f(req)
	}
	return err
}

// errorDomain is the ErrorInfo domain of Dapr's errors.
const errorDomain = "dapr.io"

// toStatus is the one place errors become gRPC statuses. A status already
// (an app's answer, gRPC's own) passes unchanged; a daprerr.Error gets its
// catalog code, its message, and its errorCode as ErrorInfo reason, the
// way daprd's rich errors carry it.
func (s *Server) toStatus(ctx context.Context, method string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	e := daprerr.From(err)
	level := slog.LevelDebug
	if e.Code() == codes.Internal || e.Code() == codes.Unknown {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "dapr gRPC API error",
		slog.String("method", method), slog.String("code", e.Kind.Code), slog.String("error", e.Message))
	st := status.New(e.Code(), e.Message)
	if d, dErr := st.WithDetails(&errdetails.ErrorInfo{Reason: e.Kind.Code, Domain: errorDomain}); dErr == nil {
		st = d
	}
	return st.Err()
}
