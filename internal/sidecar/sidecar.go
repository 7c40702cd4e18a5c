package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/pubsub"
	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/h1"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/sidecar/grpcapi"
)

// StateAPI is what the sidecar needs of the state building block; the
// signatures are those of state.Service.
type StateAPI interface {
	Stores() []state.StoreInfo
	// Check returns Dapr's error for a store name that names no store.
	Check(store string) error
	Get(ctx context.Context, store, key string, opts state.GetOptions) (*state.Item, error)
	BulkGet(ctx context.Context, store string, keys []string, opts state.BulkGetOptions) ([]state.BulkItem, error)
	Save(ctx context.Context, store string, items []state.SaveItem) error
	Delete(ctx context.Context, store string, item state.DeleteItem) error
	Transact(ctx context.Context, store string, ops []state.TxOperation, metadata map[string]string) error
	Query(ctx context.Context, store string, query []byte, metadata map[string]string) (*state.QueryResponse, error)
}

// PubsubAPI is what the sidecar needs of the pub/sub building block; the
// signatures are those of pubsub.Service.
type PubsubAPI interface {
	Components() []pubsub.ComponentInfo
	// Check returns Dapr's error for a pub/sub or topic name that will not do.
	Check(name, topic string) error
	Publish(ctx context.Context, req pubsub.PublishRequest) error
	BulkPublish(ctx context.Context, req pubsub.BulkRequest) ([]pubsub.FailedEntry, error)
	Subscribe(ctx context.Context, ch pubsub.AppChannel, subs []pubsub.Subscription) (*pubsub.Subscriber, error)
	// Streaming lists the streaming subscriptions open now.
	Streaming() []pubsub.Subscription
}

// InputBindingsAPI is what the sidecar needs of the bindings building
// block to read input bindings for its app (bindings.Service).
type InputBindingsAPI interface {
	Read(ctx context.Context, ch bindings.AppChannel) (*bindings.Reader, error)
}

// Invoker is what the sidecar needs of the invocation building block
// (*invoke.Invoker).
type Invoker interface {
	Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error)
}

// Dapr's defaults, which cove's hosts apply where the app, its flags or
// its ACA settings say nothing.
const (
	// DefaultNamespace is daprd's namespace without NAMESPACE.
	DefaultNamespace = "default"
	// DefaultMaxRequestBodySize is daprd's --max-body-size, 4 MiB.
	DefaultMaxRequestBodySize = 4 << 20
	// DefaultMaxHeaderBytes is daprd's --read-buffer-size, 4 KiB.
	DefaultMaxHeaderBytes = 4 << 10
)

// Config describes one sidecar.
type Config struct {
	// AppID is the Dapr app id (required).
	AppID string
	// Namespace defaults to DefaultNamespace.
	Namespace string
	// AppAddr is host:port of the app, "" when the app has no port.
	AppAddr string
	// AppDial, when set, connects to the app where it listens, to tell
	// whether it accepts connections, in place of a dial of AppAddr: a
	// relay in front of the app accepts before the app does.
	AppDial func(ctx context.Context) (net.Conn, error)
	// AppProtocol is how the sidecar talks to the app: "http" (the
	// default) or "grpc".
	AppProtocol string
	// HTTPListener is where the Dapr HTTP API is served. The caller opens
	// it (the control plane allocates ports); the sidecar closes it.
	HTTPListener net.Listener
	// GRPCListener is where the Dapr gRPC API is served; nil serves none.
	// Like HTTPListener, the caller opens it and the sidecar closes it.
	GRPCListener net.Listener
	// State may be nil when no state store is in scope for the app.
	State StateAPI
	// Secrets may be nil when no secret store is in scope for the app.
	Secrets SecretsAPI
	// Lock may be nil when no lock store is in scope for the app.
	Lock LockAPI
	// Bindings may be nil when no output binding is in scope for the app.
	Bindings BindingsAPI
	// InputBindings may be nil when no input binding is in scope; its
	// bindings are read, like subscriptions, once the app is up, until
	// StopSubscriptions or Close.
	InputBindings InputBindingsAPI
	// Pubsub may be nil when no pub/sub component is in scope: publishes
	// then answer ERR_PUBSUB_NOT_FOUND.
	Pubsub PubsubAPI
	// Subscriptions are the app's declarative subscriptions (Subscription
	// resources in its scope); the app's own are asked of it once it is
	// ready, and all are delivered to it until Close.
	Subscriptions []pubsub.Subscription
	// Configuration may be nil when no configuration store is in scope.
	Configuration ConfigurationAPI
	// Actors may be nil without a placement (cove sidecar): the actor
	// API then answers ERR_ACTOR_NO_PLACEMENT. With it, an HTTP app's
	// /dapr/config is read once it is up, and the types it names hosted.
	Actors ActorsAPI
	// Jobs may be nil without a scheduler: the jobs API then answers as
	// daprd does without one. With it, the app is sent its jobs once it
	// is up, until StopSubscriptions or Close.
	Jobs JobsAPI
	// Invoker may be nil; invocations then fail with
	// ERR_DIRECT_INVOKE_NOT_READY. The gRPC API also needs it to implement
	// grpcapi.Invoker (*invoke.Invoker does) for InvokeService and proxying.
	Invoker Invoker
	// Logger defaults to slog.Default(). The sidecar adds no attribute:
	// callers name the app (and replica) as they know it.
	Logger *slog.Logger
	// OnShutdown is called, once and in its own goroutine, after
	// POST /v1.0/shutdown has been answered.
	OnShutdown func()
	// RuntimeVersion is reported by the metadata API.
	RuntimeVersion string
	// MaxHeaderBytes bounds request headers. Default 4 KiB, daprd's
	// --dapr-http-read-buffer-size (ACA's dapr.httpReadBufferSize).
	MaxHeaderBytes int
	// MaxRequestBodySize bounds request bodies, invocations included, as
	// daprd's --dapr-http-max-request-size does (ACA's
	// dapr.httpMaxRequestSize), and every gRPC message. Zero means no limit
	// for HTTP and 4 MiB, gRPC's default, for gRPC.
	MaxRequestBodySize int64
	// APIToken is the app's DAPR_API_TOKEN: when set, every API call but
	// the health endpoints must carry it in dapr-api-token (apitoken.go).
	APIToken string
	// TraceSampling is the share of new traces marked sampled (Dapr's
	// spec.tracing.samplingRate); nil means 1 (tracing.go).
	TraceSampling *float64
	// APILogging logs every call to the Dapr APIs (apilog.go).
	APILogging APILogging
	// APILogger receives those lines; default Logger. cove up gives each
	// replica's sidecar one that writes into the replica's log.
	APILogger *slog.Logger
	// Metrics, when set, records every call to the Dapr APIs under
	// daprd's metric names (the process serves them).
	Metrics *metrics.Sidecar
}

// Sidecar is one replica's Dapr API.
type Sidecar struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	mux     *http.ServeMux
	srv     *h1.Server
	grpc    *grpcapi.Server

	appReady atomic.Bool
	dialer   net.Dialer

	mdMu     sync.RWMutex
	extended map[string]string

	subMu sync.Mutex
	subs  *subscriber // nil before Start and after Close
	// life ends at Close: what the sidecar started for the app (its HTTP
	// configuration subscriptions) ends with it.
	life    context.Context
	endLife context.CancelFunc

	actorMu       sync.Mutex
	hosting       *actorHosting // nil while the app is not hosting actors
	actorsStopped bool          // StopActors or Close was called

	healthMu  sync.Mutex
	unhealthy chan struct{} // closed and nil once the app is healthy again

	shutdownOnce sync.Once
	startOnce    sync.Once
	serveDone    chan struct{}
	grpcDone     chan struct{}
}

// New validates cfg and builds a sidecar; Start serves it.
func New(cfg Config) (*Sidecar, error) {
	if cfg.AppID == "" {
		return nil, errors.New("sidecar: app id is required")
	}
	if cfg.AppProtocol == "" {
		cfg.AppProtocol = "http"
	}
	if cfg.AppProtocol != invoke.ProtocolHTTP && cfg.AppProtocol != invoke.ProtocolGRPC {
		return nil, fmt.Errorf("sidecar %s: app protocol %q is not supported (use http or grpc)", cfg.AppID, cfg.AppProtocol)
	}
	if cfg.AppAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.AppAddr); err != nil {
			return nil, fmt.Errorf("sidecar %s: app address: %w", cfg.AppID, err)
		}
	}
	if iv, ok := cfg.Invoker.(*invoke.Invoker); ok && iv == nil {
		cfg.Invoker = nil // a typed nil would pass the nil check and crash
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Sidecar{
		cfg:       cfg,
		log:       log,
		extended:  map[string]string{},
		dialer:    net.Dialer{Timeout: 500 * time.Millisecond},
		serveDone: make(chan struct{}),
		grpcDone:  make(chan struct{}),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	if cfg.AppAddr == "" {
		s.appReady.Store(true)
	}
	s.mux = s.routes()
	s.handler = s.instrument(s.serveHTTP)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	// daprd accepts h2c on its HTTP port; some SDKs use it.
	protocols.SetUnencryptedHTTP2(true)
	// h1 serves plain HTTP/1.1 calls, which is how SDKs and curl call;
	// h2c and upgrades go on to net/http.
	s.srv = h1.New(&http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: invocations stream for as long as the app does.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Protocols:      protocols,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	})
	if cfg.GRPCListener != nil {
		var err error
		if s.grpc, err = s.newGRPCServer(); err != nil {
			return nil, fmt.Errorf("sidecar %s: %w", cfg.AppID, err)
		}
	}
	return s, nil
}

// Handler is the Dapr HTTP API, for tests and benchmarks.
func (s *Sidecar) Handler() http.Handler { return s.handler }

// Start serves the HTTP API, and the gRPC API when it has a listener, on
// the configured listeners in the background.
func (s *Sidecar) Start() error {
	if s.cfg.HTTPListener == nil {
		return fmt.Errorf("sidecar %s: no HTTP listener", s.cfg.AppID)
	}
	started := false
	s.startOnce.Do(func() {
		started = true
		go func() {
			defer close(s.serveDone)
			if err := s.srv.Serve(s.cfg.HTTPListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("dapr HTTP API stopped", slog.Any("error", err))
			}
		}()
		s.startGRPC()
		s.startSubscriptions()
		s.startActorHosting()
	})
	if !started {
		return fmt.Errorf("sidecar %s: already started or closed", s.cfg.AppID)
	}
	attrs := []slog.Attr{slog.String("http", s.cfg.HTTPListener.Addr().String())}
	if s.grpc != nil {
		attrs = append(attrs, slog.String("grpc", s.cfg.GRPCListener.Addr().String()))
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "dapr APIs listening", attrs...)
	return nil
}

// Close stops accepting requests and waits, until ctx ends, for those in
// flight; then it closes whatever is left.
func (s *Sidecar) Close(ctx context.Context) error {
	// Subscriptions stop first: a closing sidecar takes no more messages,
	// and those its app had not answered go to another subscriber.
	s.stopSubscriptions()
	s.StopActors(ctx)
	s.endLife()
	s.startOnce.Do(func() {
		// Never started: the listener is still ours to close.
		close(s.serveDone)
		close(s.grpcDone)
		if s.cfg.HTTPListener != nil {
			_ = s.cfg.HTTPListener.Close()
		}
		if s.cfg.GRPCListener != nil {
			_ = s.cfg.GRPCListener.Close()
		}
	})
	// Both APIs drain at once, within the same deadline.
	grpcErr := make(chan error, 1)
	go func() { grpcErr <- s.stopGRPC(ctx) }()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		<-grpcErr
		return fmt.Errorf("sidecar %s: graceful shutdown: %w", s.cfg.AppID, err)
	}
	if err := <-grpcErr; err != nil {
		return fmt.Errorf("sidecar %s: %w", s.cfg.AppID, err)
	}
	select {
	case <-s.serveDone:
	case <-ctx.Done():
		return fmt.Errorf("sidecar %s: waiting for the server: %w", s.cfg.AppID, ctx.Err())
	}
	return nil
}

// AppReady reports whether the app's port has accepted a connection, dialing
// it once more if not yet. Once true it stays true, as in daprd, which stops
// probing the port after the app first comes up.
func (s *Sidecar) AppReady(ctx context.Context) bool {
	if s.appReady.Load() {
		return true
	}
	var conn net.Conn
	var err error
	if s.cfg.AppDial != nil {
		dctx, cancel := context.WithTimeout(ctx, s.dialer.Timeout)
		conn, err = s.cfg.AppDial(dctx)
		cancel()
	} else {
		conn, err = s.dialer.DialContext(ctx, "tcp", s.cfg.AppAddr)
	}
	if err != nil {
		return false
	}
	_ = conn.Close()
	s.appReady.Store(true)
	s.log.Debug("app port is accepting connections", slog.String("addr", s.cfg.AppAddr))
	return true
}

// MaxExtendedMetadata bounds the attributes of the extended metadata, keys
// and values together. daprd keeps whatever it is sent, so a few large
// PUTs make every GET of the metadata as large; cove refuses an attribute
// that would take them past this.
const MaxExtendedMetadata = 64 << 10

// SetExtendedMetadata sets an attribute reported under "extended" by the
// metadata API; an empty key is ignored, as in daprd. An attribute that
// would take the attributes past MaxExtendedMetadata is refused with 400
// ERR_METADATA_SET.
func (s *Sidecar) SetExtendedMetadata(key, value string) error {
	if key == "" {
		return nil
	}
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	size := len(key) + len(value)
	for k, v := range s.extended {
		if k != key {
			size += len(k) + len(v)
		}
	}
	if size > MaxExtendedMetadata {
		return daprerr.New(daprerr.MetadataSet, "extended metadata attribute %q: the attributes would take %d bytes, more than the %d allowed",
			key, size, MaxExtendedMetadata)
	}
	s.extended[key] = value
	return nil
}

func (s *Sidecar) extendedMetadata() map[string]string {
	s.mdMu.RLock()
	defer s.mdMu.RUnlock()
	out := make(map[string]string, len(s.extended)+1)
	maps.Copy(out, s.extended)
	return out
}

// shutdown runs the hook once, after the response is on its way: the hook
// typically closes this sidecar, which waits for in-flight handlers.
func (s *Sidecar) shutdown() {
	s.shutdownOnce.Do(func() {
		if s.cfg.OnShutdown != nil {
			go s.cfg.OnShutdown()
		}
	})
}
