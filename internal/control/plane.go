package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/edge"
	"github.com/cove-env/cove/internal/hosts"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// StateDir returns the state directory of an environment file.
func StateDir(envFile string) string {
	return filepath.Join(filepath.Dir(envFile), StateDirName)
}

// SocketPath returns the management socket of an environment file.
func SocketPath(envFile string) string {
	return filepath.Join(StateDir(envFile), SocketName)
}

// Run starts the environment and blocks until ctx ends or a shutdown is
// requested through the management API, then stops everything gracefully.
//
// It builds the plane (openPlane), serves the management API on its
// socket, and has the controller (Env) start the components and apps and,
// at the end, stop them; the plane is torn down last.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Events == nil {
		opts.Events = func(Event) {}
	}
	if opts.Output == nil {
		opts.Output = func(string, string, string, []byte) {}
	}
	env, err := onlyApps(opts.Spec, opts.Apps)
	if err != nil {
		return err
	}
	e := &Env{
		replicas:  map[string]*replicaRuntime{},
		stopCh:    make(chan struct{}),
		placement: actors.NewPlacement(),
		skipped:   map[string]bool{},
	}
	for _, entry := range opts.Spec.Apps {
		if !slices.Contains(env.Apps, entry) {
			e.skipped[entry.App.Name] = true
		}
	}
	// The supervisor reports to the controller, which exists before it.
	p, err := openPlane(ctx, opts, env, e.output, e.replicaChanged)
	if err != nil {
		return err
	}
	defer p.close()
	e.plane = p
	// Jobs are kept in the state directory, so they outlive a restart;
	// the scheduler closes after every sidecar has stopped.
	if e.scheduler, err = jobs.Open(ctx, filepath.Join(p.stateDir, JobsFileName), opts.Logger); err != nil {
		return err
	}
	defer e.scheduler.Close()

	api := &http.Server{Handler: apiHandler(e), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = api.Serve(p.apiLn) }()
	defer api.Close()
	if opts.APIAddr != "" {
		tcpAPI, st, err := serveAPITCP(opts.APIAddr, p.stateDir, apiHandler(e))
		if err != nil {
			return err
		}
		defer tcpAPI.Close()
		e.api = st
	}

	defer func() {
		stopErr := e.stop()
		if err == nil {
			err = stopErr
		}
	}()
	if err := e.start(ctx); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
	case <-p.shutdown:
	case err := <-p.edgeDone:
		if err != nil {
			return fmt.Errorf("edge stopped: %w", err)
		}
	}
	return nil
}

// plane is what an environment's apps run on, built by openPlane before
// any of them starts and torn down (close) after they have all stopped:
// the state directory and the management socket, the environment CA and
// the edge's certificates, the edge's listeners and the edge serving them,
// the routing table the edge and the invoker read, the hosts file naming
// the apps, the metrics registry, the supervisor and its guardian. Its
// fields do not change once it is built; the controller (Env) replaces
// the routing table and the custom domains' certificates, each safe for
// concurrent use.
type plane struct {
	opts     Options
	spec     *spec.Environment
	log      *slog.Logger
	stateDir string
	// apiLn is the management socket's listener, for the API to serve.
	apiLn net.Listener

	// guardian kills the replicas' process groups and removes the pods if
	// cove dies; nil without one.
	guardian *supervisor.Guardian
	sup      *supervisor.Supervisor
	routes   routing.Source
	invoker  *invoke.Invoker
	// metrics are the sidecars' metric families, in metricsReg with the
	// process's own (GET /metrics on the management socket).
	metrics    *metrics.Dapr
	metricsReg *prometheus.Registry

	publicLn, internalLn net.Listener
	// tlsLn is the edge's HTTPS listener; httpsTaken says that it is on a
	// free port because another process held the default one.
	tlsLn      net.Listener
	httpsTaken bool
	// ca is the environment CA; caBundle is the trust bundle replicas get
	// as SSL_CERT_FILE.
	ca       *security.CA
	caBundle string
	// edge serves the listeners; edgeCerts are its certificates, custom
	// domains included; planeCtx ends once everything else has stopped;
	// edgeDone gets the edge's error if it stops serving before.
	edge      *edge.Edge
	edgeCerts *security.EdgeCerts
	planeCtx  context.Context
	edgeDone  chan error
	// names gives each app a loopback address that replicas resolve its
	// name to, through hostsFile; nil when replicas see the machine's
	// /etc/hosts (edge.appNames: false, or no launcher).
	names     *hosts.Table
	hostsFile string

	// closers undo what openPlane did, last first (close).
	closers []func()

	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// openPlane builds the plane of env, the environment file opts.Spec with
// only the apps that run: it takes the state directory (refusing it when
// the management socket answers), loads the CA, opens the edge's
// listeners and the management socket, lists the environment in the
// registry of running ones, starts the guardian, the supervisor (which
// reports to output and onChange), the invoker, writes the hosts file and
// starts serving the edge. On an error it undoes what it did.
func openPlane(ctx context.Context, opts Options, env *spec.Environment, output func(replica, stream string, line []byte), onChange func(supervisor.Status)) (_ *plane, err error) {
	p := &plane{
		opts:     opts,
		spec:     env,
		log:      opts.Logger,
		stateDir: filepath.Join(opts.Spec.Dir, StateDirName),
		shutdown: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	p.metricsReg = metrics.NewRegistry()
	m, err := metrics.NewDapr(p.metricsReg)
	if err != nil {
		return nil, err
	}
	p.metrics = m

	// Processes a replica leaves behind become cove's to reap, instead of
	// lingering as zombies under an init that does not reap.
	if err := supervisor.SetSubreaper(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		p.log.Warn("cannot become the reaper of orphaned replica processes", "err", err)
	}
	if err := os.MkdirAll(p.stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	sock := filepath.Join(p.stateDir, SocketName)
	if pingSocket(sock) {
		return nil, fmt.Errorf("this environment is already running (management socket %s answers); stop it with `cove down -f %s` first", sock, p.spec.File)
	}
	_ = os.Remove(sock)

	edgeCerts, err := p.loadCA()
	if err != nil {
		return nil, err
	}
	if err := p.listen(); err != nil {
		return nil, err
	}
	apiLn, err := net.Listen("unix", sock)
	if err != nil {
		p.publicLn.Close()
		p.tlsLn.Close()
		p.internalLn.Close()
		return nil, fmt.Errorf("listen on management socket: %w", err)
	}
	p.apiLn = apiLn
	p.closers = append(p.closers, func() { os.Remove(sock) })
	if p.opts.Registry != "" {
		unregister, err := register(p.opts.Registry, Running{Name: p.spec.Name, File: p.spec.File, Socket: sock, PID: os.Getpid()})
		if err != nil {
			p.log.Warn("cannot list the environment among the running ones; commands elsewhere need -f", "dir", p.opts.Registry, "err", err)
		} else {
			p.closers = append(p.closers, unregister)
		}
	}

	// The data plane runs until everything else has stopped.
	planeCtx, stopPlane := context.WithCancel(context.WithoutCancel(ctx))
	p.closers = append(p.closers, stopPlane)

	if len(p.opts.Guardian) > 0 {
		g, err := supervisor.StartGuardian(p.opts.Guardian[0], p.opts.Guardian[1:]...)
		if err != nil {
			p.log.Warn("no guardian: replicas' children may outlive a killed cove", "err", err)
		} else {
			p.guardian = g
			// After stop: every group is gone by then, and "bye" lets the
			// guardian exit without killing anything.
			p.closers = append(p.closers, func() { g.Close() })
		}
	}
	p.sup = supervisor.New(supervisor.Options{
		Logger:   p.log,
		Output:   output,
		OnChange: onChange,
		Guardian: p.guardian,
		Launcher: p.opts.Launcher,
	})
	p.invoker = invoke.New(sidecar.RoutingResolver{Source: &p.routes}, invoke.Options{MaxMessageSize: maxDaprRequestSize(p.spec)})

	if err := p.writeHosts(); err != nil {
		return nil, err
	}
	edgeSrv := edge.New(edge.Options{
		RequestTimeout: p.spec.Edge.Timeout(),
		Routes:         &p.routes,
		Domain:         p.spec.Domain,
		Logger:         p.log,
		Certificates:   edgeCerts.GetCertificate,
	})
	p.edge, p.edgeCerts, p.planeCtx = edgeSrv, edgeCerts, planeCtx
	p.edgeDone = make(chan error, 1)
	go func() {
		ls := edge.Listeners{HTTP: p.publicLn, HTTPS: p.tlsLn, Internal: p.internalLn}
		ls.Apps, ls.AppsTLS = p.listenAppAddresses()
		p.edgeDone <- edgeSrv.Serve(planeCtx, ls)
	}()
	return p, nil
}

// close undoes openPlane once the controller has stopped everything: the
// guardian is told goodbye, the edge stops, the environment leaves the
// registry and its socket is removed.
func (p *plane) close() {
	for _, c := range slices.Backward(p.closers) {
		c()
	}
	p.closers = nil
}

// loadCA loads the environment CA, creating it on the first run, writes
// the replicas' trust bundle and issues the edge's certificates.
func (p *plane) loadCA() (*security.EdgeCerts, error) {
	ca, err := security.LoadOrCreate(p.stateDir)
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	bundle, err := ca.WriteBundle()
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	certs, err := ca.EdgeCerts(p.spec.Domain)
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	domains, err := customDomainCerts(p.spec)
	if err != nil {
		return nil, err
	}
	certs.SetCustomDomains(domains)
	p.ca, p.caBundle = ca, bundle
	return certs, nil
}

// listen opens the edge's public HTTP and HTTPS listeners and the internal
// proxy's.
func (p *plane) listen() error {
	addr := p.spec.Edge.Address
	port := p.spec.Edge.HTTPPort
	if p.opts.HTTPPort != 0 {
		port = p.opts.HTTPPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
	if err != nil {
		return fmt.Errorf("edge cannot listen on %s:%d: %w (is another cove or server using it? pick another port with --http-port or edge.httpPort in %s)", addr, port, err, filepath.Base(p.spec.File))
	}
	tlsLn, err := p.listenHTTPS(addr)
	if err != nil {
		ln.Close()
		return err
	}
	in, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		tlsLn.Close()
		return fmt.Errorf("internal proxy listener: %w", err)
	}
	p.publicLn, p.tlsLn, p.internalLn = ln, tlsLn, in
	return nil
}

// listenHTTPS opens the edge's HTTPS listener. A port asked for explicitly
// must be free; the default one falls back to any free port, so that a
// second environment, or a test run, is not refused over a port nobody
// chose.
func (p *plane) listenHTTPS(addr string) (net.Listener, error) {
	port := cmp.Or(p.opts.HTTPSPort, p.spec.Edge.HTTPSPort)
	explicit := port != 0
	if !explicit {
		port = DefaultHTTPSPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
	if err == nil {
		return ln, nil
	}
	if explicit {
		return nil, fmt.Errorf("edge cannot listen for HTTPS on %s:%d: %w (is another cove or server using it? pick another port with --https-port or edge.httpsPort in %s)", addr, port, err, filepath.Base(p.spec.File))
	}
	ln, ferr := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if ferr != nil {
		return nil, fmt.Errorf("edge cannot listen for HTTPS on %s:%d (%w) nor on a free port: %w", addr, port, err, ferr)
	}
	p.httpsTaken = true
	p.log.Warn("edge HTTPS port in use; serving HTTPS on a free port instead",
		"wanted", port, "addr", ln.Addr().String(), "err", err)
	return ln, nil
}

// Shutdown ends Run as if its context were cancelled.
func (p *plane) Shutdown() {
	p.shutdownOnce.Do(func() { close(p.shutdown) })
}

// Metrics serves the sidecars' metric families and the process's own.
func (p *plane) Metrics() http.Handler { return metrics.Handler(p.metricsReg) }
