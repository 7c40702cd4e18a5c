package sidecar

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/sidecar/grpcapi"
)

// NameResolver resolves app ids for a standalone sidecar: its own app id
// to its own app, every other through name resolution to a live peer
// sidecar's internal listener (round robin), which speaks HTTP whatever
// its app speaks. Pair it with an invoke.PeerTransport.
type NameResolver struct {
	Picker    *nameresolution.Picker
	Namespace string
	// Self is this sidecar's app: its id, its address ("" when it has no
	// port) and its protocol.
	Self invoke.Target
}

var _ invoke.Resolver = NameResolver{}

// Resolve returns the own app or a live peer sidecar of appID.
func (r NameResolver) Resolve(ctx context.Context, appID string) (invoke.Target, error) {
	if appID == r.Self.AppID {
		if r.Self.Addr == "" {
			return invoke.Target{}, fmt.Errorf("%w: app %s has no port", invoke.ErrNoReadyReplica, appID)
		}
		return r.Self, nil
	}
	reg, err := r.Picker.Pick(ctx, r.Namespace, appID)
	if errors.Is(err, nameresolution.ErrNotFound) {
		return invoke.Target{}, fmt.Errorf("%w: %s", invoke.ErrAppNotFound, appID)
	}
	if err != nil {
		return invoke.Target{}, err
	}
	return invoke.Target{AppID: appID, Addr: reg.Address, Protocol: invoke.ProtocolHTTP,
		Refused: func() { r.Picker.Forget(r.Namespace, appID, reg.Address) }}, nil
}

// PeerServerConfig describes a standalone sidecar's internal listener.
type PeerServerConfig struct {
	// AppID is the sidecar's app id: requests for another are refused.
	AppID string
	// Listener is where peers connect, plain TCP: the server adds TLS.
	// The server closes it.
	Listener net.Listener
	// TLS is the sidecar's identity and trust (required).
	TLS *PeerTLS
	// Invoker calls the own app (the sidecar's invoker, whose resolver
	// maps the own app id to the app). gRPC calls proxied by peers are
	// relayed when it also implements grpcapi.Invoker (*invoke.Invoker
	// does), and answered Unimplemented otherwise.
	Invoker Invoker
	// Actors, when set, runs the actor calls other sidecars forward here
	// (cove sidecar with a placement service).
	Actors ActorHost
	// MaxMessageSize bounds relayed gRPC messages; default 4 MiB.
	MaxMessageSize int
	// MaxHeaderBytes bounds request headers; default 1 MiB.
	MaxHeaderBytes int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// PeerServer is the internal listener other sidecars invoke this
// sidecar's app through: HTTP invocations, and gRPC calls their apps
// proxy with dapr-app-id metadata (HTTP/2 requests of a gRPC content
// type), relayed frame by frame to the app's gRPC server. The caller's app
// id comes from its verified certificate, never from a header or
// metadata, and replaces whatever identity the request carries.
type PeerServer struct {
	cfg       PeerServerConfig
	log       *slog.Logger
	srv       *http.Server
	grpc      *grpcapi.PeerServer // nil when the invoker cannot dial the app
	actors    *grpc.Server        // CallActor; nil without Actors
	startOnce sync.Once
	done      chan struct{}
}

// NewPeerServer validates cfg and builds the server; Start serves it.
func NewPeerServer(cfg PeerServerConfig) (*PeerServer, error) {
	if cfg.AppID == "" || cfg.Listener == nil || cfg.TLS == nil || cfg.Invoker == nil {
		return nil, errors.New("peer server: app id, listener, TLS and invoker are required")
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &PeerServer{cfg: cfg, log: log, done: make(chan struct{})}
	if inv, ok := cfg.Invoker.(grpcapi.Invoker); ok {
		var err error
		if p.grpc, err = grpcapi.NewPeer(grpcapi.PeerConfig{
			AppID: cfg.AppID, Invoker: inv, Caller: p.grpcCaller, MaxMessageSize: cfg.MaxMessageSize, Logger: p.log,
		}); err != nil {
			return nil, fmt.Errorf("peer server: %w", err)
		}
	}
	if cfg.Actors != nil {
		p.actors = newActorPeerServer(cfg.Actors, cmp.Or(cfg.MaxMessageSize, invoke.DefaultMaxMessageSize), log)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		TLSConfig:         cfg.TLS.ServerConfig(),
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// Addr is the listener's address, the one to register.
func (p *PeerServer) Addr() string { return p.cfg.Listener.Addr().String() }

// Start serves in the background.
func (p *PeerServer) Start() {
	p.startOnce.Do(func() {
		go func() {
			defer close(p.done)
			if err := p.srv.ServeTLS(p.cfg.Listener, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("internal listener stopped", slog.Any("error", err))
			}
		}()
		p.log.Info("internal listener for peer sidecars (mTLS)", slog.String("addr", p.Addr()))
	})
}

// Close stops accepting calls and waits, until ctx ends, for those in
// flight.
func (p *PeerServer) Close(ctx context.Context) error {
	p.startOnce.Do(func() {
		close(p.done)
		_ = p.cfg.Listener.Close()
	})
	err := p.srv.Shutdown(ctx)
	if p.grpc != nil {
		// Calls still in flight once the drain gave up end here; after a
		// clean drain there are none.
		p.grpc.Stop()
	}
	if p.actors != nil {
		p.actors.Stop()
	}
	if err != nil {
		_ = p.srv.Close()
		return fmt.Errorf("internal listener of %s: %w", p.cfg.AppID, err)
	}
	<-p.done
	return nil
}

// callerOf is the app id certified by a connection's verified client
// certificate. The handshake verified the chain and the SPIFFE ID's form;
// this cannot fail for a connection that got here, but a handler must not
// trust that.
func (p *PeerServer) callerOf(cs *tls.ConnectionState) (string, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("caller has no verified certificate")
	}
	_, caller, err := PeerIdentity(p.cfg.TLS.TrustDomain, cs.VerifiedChains[0][0])
	if err != nil {
		return "", fmt.Errorf("caller identity: %w", err)
	}
	return caller, nil
}

// grpcCaller is callerOf for a gRPC call, whose connection state gRPC
// keeps in the call's peer information.
func (p *PeerServer) grpcCaller(ctx context.Context) (string, error) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return "", errors.New("caller has no verified certificate")
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", errors.New("caller has no verified certificate")
	}
	return p.callerOf(&info.State)
}

func (p *PeerServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if grpcapi.IsGRPC(r) {
		if r.URL.Path == callActorPath && p.actors != nil {
			p.actors.ServeHTTP(w, r)
			return
		}
		if p.grpc == nil {
			writeGRPCStatus(w, codes.Unimplemented, "failed to proxy request: this sidecar cannot dial its app")
			return
		}
		// The proxy takes the caller from the connection itself.
		p.grpc.ServeHTTP(w, r)
		return
	}
	caller, err := p.callerOf(r.TLS)
	if err != nil {
		p.writeError(w, r, daprerr.Wrap(daprerr.DirectInvoke, err, "peer invocation").
			WithStatus(http.StatusForbidden, codes.PermissionDenied))
		return
	}
	if callee := r.Header.Get(invoke.HeaderCalleeAppID); callee != p.cfg.AppID {
		p.writeError(w, r, daprerr.New(daprerr.DirectInvoke,
			"failed to invoke, id: %s, err: this sidecar serves %s", callee, p.cfg.AppID).
			WithStatus(http.StatusNotFound, codes.NotFound))
		return
	}
	req := &invoke.Request{
		AppID:         p.cfg.AppID,
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Header:        r.Header,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		CallerAppID:   caller,
	}
	resp, err := p.cfg.Invoker.Invoke(r.Context(), req)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	w.WriteHeader(resp.Status)
	if err := copyBody(w, resp.Body, resp.ContentLength < 0); err != nil {
		p.log.Debug("peer invocation response cut short", slog.String("caller", caller), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
}

// writeGRPCStatus answers a gRPC call with a status and no message (a
// trailers-only response).
func writeGRPCStatus(w http.ResponseWriter, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(code)))
	h.Set("Grpc-Message", url.PathEscape(msg))
	w.WriteHeader(http.StatusOK)
}

func (p *PeerServer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := daprerr.From(err)
	p.log.Debug("peer invocation failed", slog.String("path", r.URL.Path),
		slog.String("code", e.Kind.Code), slog.String("error", e.Message))
	body, mErr := json.Marshal(e.Body())
	if mErr != nil {
		body = []byte(`{"errorCode":"ERR_INTERNAL","message":"failed to encode error"}`)
	}
	writeJSON(w, e.Status(), body)
}
