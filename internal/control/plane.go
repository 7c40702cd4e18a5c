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
	"time"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/edge"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/sidecar"
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
func Run(ctx context.Context, opts Options) error {
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
		opts:     opts,
		spec:     env,
		log:      opts.Logger,
		stateDir: filepath.Join(opts.Spec.Dir, StateDirName),
		replicas: map[string]*replicaRuntime{},
		shutdown: make(chan struct{}),
		stopCh:   make(chan struct{}),
	}
	e.metricsReg = metrics.NewRegistry()
	m, err := metrics.NewDapr(e.metricsReg)
	if err != nil {
		return err
	}
	e.metrics = m
	return e.run(ctx)
}

func (e *Env) run(ctx context.Context) (err error) {
	// Processes a replica leaves behind become cove's to reap, instead of
	// lingering as zombies under an init that does not reap.
	if err := supervisor.SetSubreaper(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		e.log.Warn("cannot become the reaper of orphaned replica processes", "err", err)
	}
	if err := os.MkdirAll(e.stateDir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	sock := filepath.Join(e.stateDir, SocketName)
	if pingSocket(sock) {
		return fmt.Errorf("this environment is already running (management socket %s answers); stop it with `cove down -f %s` first", sock, e.spec.File)
	}
	_ = os.Remove(sock)

	edgeCerts, err := e.loadCA()
	if err != nil {
		return err
	}
	if err := e.listen(); err != nil {
		return err
	}
	apiLn, err := net.Listen("unix", sock)
	if err != nil {
		e.publicLn.Close()
		e.tlsLn.Close()
		e.internalLn.Close()
		return fmt.Errorf("listen on management socket: %w", err)
	}
	defer os.Remove(sock)
	if e.opts.Registry != "" {
		unregister, err := register(e.opts.Registry, Running{Name: e.spec.Name, File: e.spec.File, Socket: sock, PID: os.Getpid()})
		if err != nil {
			e.log.Warn("cannot list the environment among the running ones; commands elsewhere need -f", "dir", e.opts.Registry, "err", err)
		} else {
			defer unregister()
		}
	}

	// The data plane runs until everything else has stopped.
	planeCtx, stopPlane := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPlane()

	var guardian *supervisor.Guardian
	if len(e.opts.Guardian) > 0 {
		g, err := supervisor.StartGuardian(e.opts.Guardian[0], e.opts.Guardian[1:]...)
		if err != nil {
			e.log.Warn("no guardian: replicas' children may outlive a killed cove", "err", err)
		} else {
			guardian = g
			// After stop: every group is gone by then, and "bye" lets the
			// guardian exit without killing anything.
			defer guardian.Close()
		}
	}
	e.guardian = guardian
	e.sup = supervisor.New(supervisor.Options{
		Logger:   e.log,
		Output:   e.output,
		OnChange: e.replicaChanged,
		Guardian: guardian,
		Launcher: e.opts.Launcher,
	})
	e.invoker = invoke.New(sidecar.RoutingResolver{Source: &e.routes}, invoke.Options{MaxMessageSize: maxDaprRequestSize(e.spec)})

	if err := e.writeHosts(); err != nil {
		return err
	}
	edgeSrv := edge.New(edge.Options{
		RequestTimeout: e.spec.Edge.Timeout(),
		Routes:         &e.routes,
		Domain:         e.spec.Domain,
		Logger:         e.log,
		Certificates:   edgeCerts.GetCertificate,
	})
	e.edge, e.edgeCerts, e.planeCtx = edgeSrv, edgeCerts, planeCtx
	edgeDone := make(chan error, 1)
	go func() {
		ls := edge.Listeners{HTTP: e.publicLn, HTTPS: e.tlsLn, Internal: e.internalLn}
		ls.Apps, ls.AppsTLS = e.listenAppAddresses()
		edgeDone <- edgeSrv.Serve(planeCtx, ls)
	}()

	api := &http.Server{Handler: apiHandler(e), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = api.Serve(apiLn) }()
	defer api.Close()

	defer func() {
		stopErr := e.stop()
		if err == nil {
			err = stopErr
		}
	}()

	comps, err := loadComponents(ctx, e.spec, e.stateDir, "http://"+e.internalLn.Addr().String(), e.log, e.opts.Events)
	e.mu.Lock()
	e.comps = comps
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if err := e.startApps(ctx); err != nil {
		return err
	}
	if err := e.syncTCP(); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
	case <-e.shutdown:
	case err := <-edgeDone:
		if err != nil {
			return fmt.Errorf("edge stopped: %w", err)
		}
	}
	return nil
}

// loadCA loads the environment CA, creating it on the first run, writes
// the replicas' trust bundle and issues the edge's certificates.
func (e *Env) loadCA() (*security.EdgeCerts, error) {
	ca, err := security.LoadOrCreate(e.stateDir)
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	bundle, err := ca.WriteBundle()
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	certs, err := ca.EdgeCerts(e.spec.Domain)
	if err != nil {
		return nil, fmt.Errorf("environment CA: %w", err)
	}
	domains, err := customDomainCerts(e.spec)
	if err != nil {
		return nil, err
	}
	certs.SetCustomDomains(domains)
	e.ca, e.caBundle = ca, bundle
	return certs, nil
}

// listen opens the edge's public HTTP and HTTPS listeners and the internal
// proxy's.
func (e *Env) listen() error {
	addr := e.spec.Edge.Address
	port := e.spec.Edge.HTTPPort
	if e.opts.HTTPPort != 0 {
		port = e.opts.HTTPPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
	if err != nil {
		return fmt.Errorf("edge cannot listen on %s:%d: %w (is another cove or server using it? pick another port with --http-port or edge.httpPort in %s)", addr, port, err, filepath.Base(e.spec.File))
	}
	tlsLn, err := e.listenHTTPS(addr)
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
	e.publicLn, e.tlsLn, e.internalLn = ln, tlsLn, in
	return nil
}

// listenHTTPS opens the edge's HTTPS listener. A port asked for explicitly
// must be free; the default one falls back to any free port, so that a
// second environment, or a test run, is not refused over a port nobody
// chose.
func (e *Env) listenHTTPS(addr string) (net.Listener, error) {
	port := cmp.Or(e.opts.HTTPSPort, e.spec.Edge.HTTPSPort)
	explicit := port != 0
	if !explicit {
		port = DefaultHTTPSPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
	if err == nil {
		return ln, nil
	}
	if explicit {
		return nil, fmt.Errorf("edge cannot listen for HTTPS on %s:%d: %w (is another cove or server using it? pick another port with --https-port or edge.httpsPort in %s)", addr, port, err, filepath.Base(e.spec.File))
	}
	ln, ferr := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if ferr != nil {
		return nil, fmt.Errorf("edge cannot listen for HTTPS on %s:%d (%w) nor on a free port: %w", addr, port, err, ferr)
	}
	e.httpsTaken = true
	e.log.Warn("edge HTTPS port in use; serving HTTPS on a free port instead",
		"wanted", port, "addr", ln.Addr().String(), "err", err)
	return ln, nil
}

// Shutdown ends Run as if its context were cancelled.
func (e *Env) Shutdown() {
	e.shutdownOnce.Do(func() { close(e.shutdown) })
}

// Metrics serves the sidecars' metric families and the process's own.
func (e *Env) Metrics() http.Handler { return metrics.Handler(e.metricsReg) }
