package standalone

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/daprapp"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
)

// DefaultTrustDomain is Dapr's trust domain when the Configuration sets
// none.
const DefaultTrustDomain = "public"

// defaultNameResolution is the component type used when the Configuration
// names none: a SQLite file every sidecar of the user shares. Like every
// component type it comes from the registry, which the binary fills
// (components/all).
const defaultNameResolution = "nameresolution.sqlite"

// Options describe one standalone sidecar; the CLI fills them from
// daprd's flags.
type Options struct {
	// AppID is the Dapr app id (required).
	AppID string
	// AppPort is the app's port; 0 when the app has none.
	AppPort int
	// AppProtocol is "http" (default) or "grpc".
	AppProtocol string
	// AppChannelAddress is the app's host; default 127.0.0.1.
	AppChannelAddress string
	// HTTPPort and GRPCPort are the Dapr APIs' ports; 0 picks a free port,
	// a negative GRPCPort serves no gRPC API.
	HTTPPort int
	GRPCPort int
	// InternalPort is the port other sidecars call; 0 picks a free one.
	InternalPort int
	// ListenAddresses are the addresses every listener binds; empty means
	// every interface, as in daprd.
	ListenAddresses []string
	// HostIP is the address peers reach this sidecar at (daprd's HOST_IP);
	// empty derives it from the listen address.
	HostIP string
	// ResourcesPaths hold the component files.
	ResourcesPaths []string
	// ConfigPath is a Dapr Configuration file, "" for none.
	ConfigPath string
	// Namespace defaults to sidecar.DefaultNamespace (daprd reads
	// NAMESPACE).
	Namespace string
	// MaxRequestBodySize bounds request bodies; 0 is Dapr's 4 MiB.
	MaxRequestBodySize int64
	// MaxHeaderBytes bounds request headers; 0 is Dapr's 4 KiB.
	MaxHeaderBytes int
	// AppMaxConcurrency bounds HTTP calls in flight to the app; <= 0 is
	// unlimited.
	AppMaxConcurrency int
	// CADir holds the CA (ca.crt, ca.key) every sidecar that should trust
	// this one shares; it is created on first use (required).
	CADir string
	// NameResolutionFile is the SQLite registry used when the
	// Configuration names no name resolution (required then).
	NameResolutionFile string
	// JobsFile is the SQLite file the jobs API keeps its jobs in (sidecars
	// sharing it deliver each occurrence once), and the actor reminders;
	// "" serves no jobs API, and is refused with a PlacementAddress.
	JobsFile string
	// BaseDir resolves relative paths in component metadata; default the
	// working directory.
	BaseDir string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RuntimeVersion is reported by the metadata API.
	RuntimeVersion string
	// APIToken is daprd's DAPR_API_TOKEN: every API call but the health
	// endpoints must carry it.
	APIToken string
	// AppAPIToken is daprd's APP_API_TOKEN, sent to the app on every call.
	AppAPIToken string
	// APILogging is --enable-api-logging when given; nil leaves it to the
	// Configuration's spec.logging.apiLogging.enabled.
	APILogging *bool
	// NameCacheFor is how long an answer of name resolution is reused;
	// default nameresolution.DefaultCacheFor.
	NameCacheFor time.Duration
	// Profiling serves Go's profiles at /debug/pprof/ on ProfilePort (0
	// picks a free port), as daprd's --enable-profiling does.
	Profiling   bool
	ProfilePort int
	// Metrics serves the sidecar's Dapr metrics and the process's at
	// /metrics on MetricsPort (0 picks a free port), as daprd's
	// --enable-metrics does. With MetricsPortOptional a port already taken
	// is reported and the sidecar runs without them: daprd's default
	// port, 9090, is often taken by another sidecar on a developer's
	// machine.
	Metrics             bool
	MetricsPort         int
	MetricsPortOptional bool
	// PlacementAddress is a placement service's host:port (`cove
	// placement`, or Dapr's), daprd's --placement-host-address: with it the
	// sidecar serves the actor API, its app's actors placed among the
	// sidecars that report to the same service; it needs a JobsFile.
	PlacementAddress string
}

// Sidecar is one running standalone sidecar.
type Sidecar struct {
	opts     Options
	log      *slog.Logger
	sc       *sidecar.Sidecar
	peer     *sidecar.PeerServer
	invoker  *invoke.Invoker
	registry nameresolution.Registry
	comps    *resources.Set
	jobs     *jobs.Scheduler // nil without a jobs file
	reg      nameresolution.Registration
	prof     *auxServer
	// metricsSrv serves /metrics when Options.Metrics is set.
	metricsSrv *auxServer
	// placement and forwarder are the actor placement, with a placement
	// service, and the calls of actors other sidecars host.
	placement *actors.Placement
	forwarder *sidecar.ActorForwarder

	httpAddr, grpcAddr string

	stopBeat  context.CancelFunc
	beatDone  <-chan struct{}
	shutdown  chan struct{}
	shutOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// Start loads the resources and configuration, opens the listeners,
// starts serving and registers with name resolution. Errors name the file
// at fault.
func Start(ctx context.Context, opts Options) (_ *Sidecar, err error) {
	if opts.AppID == "" {
		return nil, errors.New("an app id is required (--app-id)")
	}
	if opts.CADir == "" {
		return nil, errors.New("a CA directory is required")
	}
	if opts.PlacementAddress != "" && opts.JobsFile == "" {
		return nil, errors.New("a jobs file is required with a placement address: actor reminders are its jobs (--jobs-file)")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("app", opts.AppID))
	s := &Sidecar{opts: opts, log: log, shutdown: make(chan struct{})}
	// Whatever was opened is closed again when a later step fails.
	defer func() {
		if err != nil {
			_ = s.Close(context.Background())
		}
	}()

	cfg := &Configuration{}
	if opts.ConfigPath != "" {
		if cfg, err = LoadConfiguration(opts.ConfigPath); err != nil {
			return nil, err
		}
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", slog.String("problem", w.String()))
	}
	trustDomain := cfg.TrustDomain
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}

	app, policies, err := s.loadApp(ctx, cfg)
	if err != nil {
		return nil, err
	}

	unlock, err := lockCADir(opts.CADir)
	if err != nil {
		return nil, err
	}
	ca, err := security.LoadOrCreateDir(opts.CADir)
	unlock()
	if err != nil {
		return nil, fmt.Errorf("CA for sidecar-to-sidecar mTLS: %w", err)
	}
	peerTLS, err := sidecar.NewPeerTLS(ca, trustDomain, opts.Namespace, opts.AppID)
	if err != nil {
		return nil, err
	}

	if s.registry, err = openRegistry(ctx, cfg.NameResolution, opts); err != nil {
		return nil, err
	}

	appAddr := ""
	if opts.AppPort > 0 {
		appAddr = net.JoinHostPort(opts.AppChannelAddress, strconv.Itoa(opts.AppPort))
	}
	local := invoke.NewTransport()
	transport, err := invoke.NewPeerTransport(invoke.PeerTransportOptions{
		Self: opts.AppID, Local: limit(local, opts.AppMaxConcurrency), TLS: peerTLS.ClientConfig(), VerifyPeer: peerTLS.VerifyPeer,
	})
	if err != nil {
		return nil, err
	}
	resolver := sidecar.NameResolver{
		Picker:    nameresolution.NewPicker(s.registry, cmp.Or(opts.NameCacheFor, nameresolution.DefaultCacheFor)),
		Namespace: opts.Namespace,
		Self:      invoke.Target{AppID: opts.AppID, Addr: appAddr, Protocol: opts.AppProtocol},
	}
	maxMsg := invoke.DefaultMaxMessageSize
	if opts.MaxRequestBodySize > int64(maxMsg) {
		maxMsg = int(opts.MaxRequestBodySize)
	}
	s.invoker = invoke.New(resolver, invoke.Options{
		Namespace: opts.Namespace, Transport: transport, Logger: log, MaxMessageSize: maxMsg,
	})
	self := &invoke.AppSettings{AppToken: opts.AppAPIToken, TrustDomain: trustDomain}
	if cfg.Spec != nil {
		self.Access = resources.AccessControl(cfg.Spec.AccessControl)
	}
	s.invoker.SetPolicies(selfPolicies{self: opts.AppID, app: self, trustDomain: trustDomain, resiliency: policies})

	httpLn, err := listen(opts.ListenAddresses, opts.HTTPPort)
	if err != nil {
		return nil, fmt.Errorf("dapr HTTP API: %w", err)
	}
	s.httpAddr = httpLn.Addr().String()
	var grpcLn net.Listener
	if opts.GRPCPort >= 0 {
		if grpcLn, err = listen(opts.ListenAddresses, opts.GRPCPort); err != nil {
			_ = httpLn.Close()
			return nil, fmt.Errorf("dapr gRPC API: %w", err)
		}
		s.grpcAddr = grpcLn.Addr().String()
	}
	internalLn, err := listen(opts.ListenAddresses, opts.InternalPort)
	if err != nil {
		_ = httpLn.Close()
		if grpcLn != nil {
			_ = grpcLn.Close()
		}
		return nil, fmt.Errorf("internal listener: %w", err)
	}

	scfg := app.SidecarConfig(daprapp.Sidecar{
		AppAddr:      appAddr,
		HTTPListener: httpLn,
		GRPCListener: grpcLn,
		Invoker:      s.invoker,
		Logger:       log,
		OnShutdown:   func() { s.shutOnce.Do(func() { close(s.shutdown) }) },
		APIToken:     opts.APIToken,
	})
	closeListeners := func() {
		_ = httpLn.Close()
		if grpcLn != nil {
			_ = grpcLn.Close()
		}
		_ = internalLn.Close()
		s.prof.close()
		s.metricsSrv.close()
	}
	if opts.Profiling {
		pln, err := listen(opts.ListenAddresses, opts.ProfilePort)
		if err != nil {
			closeListeners()
			return nil, fmt.Errorf("profiling server (--profile-port): %w", err)
		}
		s.prof = startAux("profiling", pln, profilerHandler(), log)
	}
	if opts.Metrics {
		mln, err := listen(opts.ListenAddresses, opts.MetricsPort)
		switch {
		case err == nil:
			if scfg.Metrics, s.metricsSrv, err = startMetrics(mln, opts.AppID, cfg.Spec, log); err != nil {
				closeListeners()
				return nil, err
			}
		case opts.MetricsPortOptional:
			log.Warn("no metrics: the metrics port is taken; choose another with --metrics-port", slog.Any("error", err))
		default:
			closeListeners()
			return nil, fmt.Errorf("metrics server (--metrics-port): %w", err)
		}
	}
	if s.sc, err = sidecar.New(scfg); err != nil {
		closeListeners()
		return nil, err
	}
	pcfg := sidecar.PeerServerConfig{
		AppID: opts.AppID, Listener: internalLn, TLS: peerTLS, Invoker: s.invoker, MaxMessageSize: maxMsg, Logger: log,
	}
	if h, ok := scfg.Actors.(sidecar.ActorHost); ok && s.placement != nil {
		pcfg.Actors = h
	}
	if s.peer, err = sidecar.NewPeerServer(pcfg); err != nil {
		_ = internalLn.Close()
		return nil, err
	}
	if err := s.sc.Start(); err != nil {
		return nil, err
	}
	s.peer.Start()

	listenHost := ""
	if len(opts.ListenAddresses) > 0 {
		listenHost = opts.ListenAddresses[0]
	}
	_, port, _ := net.SplitHostPort(s.peer.Addr())
	s.reg = nameresolution.Registration{
		Namespace:  opts.Namespace,
		AppID:      opts.AppID,
		InstanceID: instanceID(),
		Address:    net.JoinHostPort(advertiseHost(opts.HostIP, listenHost), port),
	}
	if s.placement != nil {
		s.forwarder = &sidecar.ActorForwarder{TLS: peerTLS}
		s.placement.Start(s.reg.Address, s.forwarder)
	}
	beatCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBeat = stop
	if s.beatDone, err = nameresolution.Heartbeat(beatCtx, s.registry, s.reg, log); err != nil {
		stop()
		s.stopBeat = nil
		return nil, fmt.Errorf("name resolution: %w", err)
	}
	log.Info("sidecar ready", slog.String("http", s.httpAddr), slog.String("grpc", s.grpcAddr),
		slog.String("internal", s.reg.Address), slog.String("trustDomain", trustDomain), slog.String("namespace", opts.Namespace))
	return s, nil
}

// setDefaults fills in what o leaves unset with daprd's defaults.
func (o *Options) setDefaults() error {
	if o.Namespace == "" {
		o.Namespace = sidecar.DefaultNamespace
	}
	if o.AppChannelAddress == "" {
		o.AppChannelAddress = "127.0.0.1"
	}
	if o.AppProtocol == "" {
		o.AppProtocol = invoke.ProtocolHTTP
	}
	if o.MaxRequestBodySize == 0 {
		o.MaxRequestBodySize = sidecar.DefaultMaxRequestBodySize
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = sidecar.DefaultMaxHeaderBytes
	}
	if o.BaseDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		o.BaseDir = wd
	}
	return nil
}

// loadApp reads the resources paths, loads the components (which s then
// holds, to close) and builds the app's blocks over them, as cove up
// builds each of its apps'.
func (s *Sidecar) loadApp(ctx context.Context, cfg *Configuration) (*daprapp.Runtime, *resources.Resiliency, error) {
	opts, log := s.opts, s.log
	res, err := LoadResources(opts.ResourcesPaths, opts.AppID, opts.Namespace)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range res.Warnings {
		log.Warn("resources", slog.String("problem", w.String()))
	}
	for _, why := range res.Skipped {
		log.Info("resource skipped", slog.String("reason", why))
	}
	if s.comps, err = resources.Load(ctx, res.Components, resources.Options{
		AppID: opts.AppID, BaseDir: opts.BaseDir, Logger: log, Loaded: logLoaded(log),
	}); err != nil {
		return nil, nil, err
	}
	policies := resources.NewResiliency(res.Resiliency, log)
	if opts.JobsFile != "" {
		if s.jobs, err = jobs.Open(ctx, opts.JobsFile, log); err != nil {
			return nil, nil, err
		}
	}
	if opts.PlacementAddress != "" {
		s.placement = actors.NewRemotePlacement(actors.RemoteOptions{
			Address: opts.PlacementAddress, AppID: opts.AppID, Namespace: opts.Namespace, Logger: log,
		})
	}
	app, err := daprapp.New(daprapp.App{
		AppID: opts.AppID, Namespace: opts.Namespace, Protocol: opts.AppProtocol, Config: cfg.Spec,
		Components: s.comps, Resiliency: policies, Subscriptions: res.Subscriptions,
		MaxRequestBodySize: opts.MaxRequestBodySize, MaxHeaderBytes: opts.MaxHeaderBytes, APILogging: opts.APILogging,
		RuntimeVersion: opts.RuntimeVersion, Logger: log, Scheduler: s.jobs, Placement: s.placement,
	})
	return app, policies, err
}

// logLoaded logs each component that loaded; resources.Load warns about
// those it skips.
func logLoaded(log *slog.Logger) func(*resources.Component) {
	return func(c *resources.Component) {
		if c.Err == nil {
			log.Info("component loaded", slog.String("component", c.Spec.Name), slog.String("type", c.Spec.Type), slog.String("version", c.Spec.Version))
		}
	}
}

// openRegistry initialises the configured name resolution, or the default
// SQLite file.
func openRegistry(ctx context.Context, nr *NameResolution, opts Options) (nameresolution.Registry, error) {
	c := &spec.Component{Name: "nameresolution", Version: "v1", File: opts.ConfigPath}
	props := map[string]string{}
	if nr == nil {
		if opts.NameResolutionFile == "" {
			return nil, errors.New("name resolution: no Configuration names a component and no SQLite file is given")
		}
		c.Type = defaultNameResolution
		props["connectionString"] = opts.NameResolutionFile
	} else {
		c.Type = "nameresolution." + nr.Component
		c.Version = cmp.Or(nr.Version, c.Version)
		props = nr.Configuration
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		c.Metadata = append(c.Metadata, spec.MetadataItem{Name: k, Value: props[k]})
	}
	where := "name resolution"
	if opts.ConfigPath != "" {
		where = fmt.Sprintf("name resolution (spec.nameResolution in %s)", opts.ConfigPath)
	}
	// Constructed and initialised as every component is.
	lc, err := resources.Init(ctx, c, resources.Options{AppID: opts.AppID, BaseDir: opts.BaseDir})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	reg, ok := lc.Instance.(nameresolution.Registry)
	if !ok {
		_ = lc.Instance.Close()
		return nil, fmt.Errorf("%s: %s is not a name resolution component", where, c.Type)
	}
	return reg, nil
}

func instanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func limit(rt http.RoundTripper, n int) http.RoundTripper {
	if n <= 0 {
		return rt
	}
	return &limitTransport{rt: rt, sem: make(chan struct{}, n)}
}

// HTTPAddr is the Dapr HTTP API's address.
func (s *Sidecar) HTTPAddr() string { return s.httpAddr }

// GRPCAddr is the Dapr gRPC API's address, "" when it serves none.
func (s *Sidecar) GRPCAddr() string { return s.grpcAddr }

// Registration is what this sidecar registered with name resolution.
func (s *Sidecar) Registration() nameresolution.Registration { return s.reg }

// ShutdownRequested is closed when POST /v1.0/shutdown was called.
func (s *Sidecar) ShutdownRequested() <-chan struct{} { return s.shutdown }

// Close deregisters from name resolution first, so peers stop picking this
// sidecar, then drains the listeners within ctx and closes the components.
func (s *Sidecar) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.stopBeat != nil {
			s.stopBeat()
			select {
			case <-s.beatDone:
			case <-ctx.Done():
			}
		}
		if s.sc != nil {
			if err := s.sc.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if s.jobs != nil {
			if err := s.jobs.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.peer != nil {
			if err := s.peer.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if s.placement != nil {
			s.placement.Close()
		}
		if s.forwarder != nil {
			_ = s.forwarder.Close()
		}
		s.prof.close()
		s.metricsSrv.close()
		if s.invoker != nil {
			_ = s.invoker.Close()
		}
		if s.registry != nil {
			if err := s.registry.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.comps.Close(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Run starts a sidecar and serves until ctx ends or the shutdown API is
// called, then closes it within grace.
func Run(ctx context.Context, opts Options, grace time.Duration) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.shutdown:
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	return s.Close(cctx)
}

// DefaultPaths are where a standalone sidecar keeps its CA and name
// resolution file when not told otherwise: under the user's cache
// directory, so every sidecar of the user shares them.
func DefaultPaths() (caDir, nameResolutionFile string, err error) {
	base, err := userDir()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(base, "ca"), filepath.Join(base, "nameresolution.db"), nil
}

// DefaultJobsFile is where standalone sidecars keep their jobs when not
// told otherwise, beside the name resolution file: sidecars of one app
// share its jobs, as daprd's share their scheduler.
func DefaultJobsFile() (string, error) {
	base, err := userDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "jobs.db"), nil
}

func userDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("user cache directory: %w", err)
	}
	return filepath.Join(cache, "cove"), nil
}
