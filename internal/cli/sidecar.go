package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/standalone"
)

// sidecarFlags are daprd's flags, with daprd's names and defaults, plus the
// two cove needs without a control plane (--ca-dir, --name-resolution-file).
type sidecarFlags struct {
	appID, appPort, appProtocol, appChannelAddress string
	httpPort, grpcPort, internalPort               string
	listenAddresses                                string
	resourcesPaths, componentsPaths                []string
	config, logLevel, mode                         string
	logAsJSON, enableMTLS, enableAPILogging        bool
	maxRequestSizeMB, readBufferSizeKB             int
	maxBodySize, readBufferSize                    string
	appMaxConcurrency, gracefulShutdownSeconds     int
	caDir, nameResolutionFile, jobsFile            string

	profilePort     string
	enableProfiling bool

	metricsPort, placement string
	enableMetrics          bool
	// Accepted because daprd users (and `dapr run`) commonly pass them;
	// they change nothing yet.
	scheduler, sentry, controlPlane string
}

func (f *sidecarFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.appID, "app-id", "", "a unique ID for the app, used for service discovery and state")
	fs.StringVar(&f.appPort, "app-port", "", "the port the app listens on (none: the app is not called)")
	fs.StringVar(&f.appProtocol, "app-protocol", "http", "the protocol the sidecar uses to talk to the app: http or grpc")
	fs.StringVar(&f.appChannelAddress, "app-channel-address", "127.0.0.1", "the network address the app listens on")
	fs.StringVar(&f.httpPort, "dapr-http-port", "3500", "the port of the Dapr HTTP API")
	fs.StringVar(&f.grpcPort, "dapr-grpc-port", "50001", "the port of the Dapr gRPC API")
	fs.StringVar(&f.internalPort, "dapr-internal-grpc-port", "", "the port other sidecars call this one on, over mTLS (default: a free port)")
	fs.StringVar(&f.listenAddresses, "dapr-listen-addresses", "", "comma-separated IP addresses the sidecar listens on (default: every interface)")
	fs.StringArrayVar(&f.resourcesPaths, "resources-path", nil, "a directory or file of component YAML, Dapr's or ACA's format (repeatable)")
	fs.StringArrayVar(&f.componentsPaths, "components-path", nil, "alias of --resources-path")
	_ = fs.MarkDeprecated("components-path", "use --resources-path")
	fs.StringVar(&f.config, "config", "", "a Dapr Configuration file (spec.nameResolution, spec.accessControl.trustDomain are read)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log verbosity: debug, info, warn, error, fatal or panic")
	fs.BoolVar(&f.logAsJSON, "log-as-json", false, "print logs as JSON")
	fs.StringVar(&f.mode, "mode", "standalone", "runtime mode; only standalone")
	fs.BoolVar(&f.enableMTLS, "enable-mtls", false, "accepted for daprd compatibility: sidecar-to-sidecar calls always use mTLS from --ca-dir")
	fs.IntVar(&f.maxRequestSizeMB, "dapr-http-max-request-size", -1, "max size of request bodies in MB; -1 is Dapr's 4 MB")
	fs.StringVar(&f.maxBodySize, "max-body-size", "", "max size of request bodies as a quantity, e.g. 4Mi (wins over --dapr-http-max-request-size)")
	fs.IntVar(&f.readBufferSizeKB, "dapr-http-read-buffer-size", -1, "max size of request headers in KB; -1 is Dapr's 4 KB")
	fs.StringVar(&f.readBufferSize, "read-buffer-size", "", "max size of request headers as a quantity, e.g. 4Ki (wins over --dapr-http-read-buffer-size)")
	fs.IntVar(&f.appMaxConcurrency, "app-max-concurrency", -1, "max HTTP calls in flight to the app; -1 is unlimited")
	fs.BoolVar(&f.enableAPILogging, "enable-api-logging", false, "log every call to the Dapr APIs at info level (default: the --config's spec.logging.apiLogging.enabled)")
	fs.IntVar(&f.gracefulShutdownSeconds, "dapr-graceful-shutdown-seconds", 5, "seconds to drain in-flight calls when stopping")
	fs.StringVar(&f.metricsPort, "metrics-port", "9090", "the port of the metrics server (when left at the default and taken, the sidecar runs without metrics)")
	fs.BoolVar(&f.enableMetrics, "enable-metrics", true, "serve Dapr's metrics for Prometheus at /metrics on --metrics-port")
	fs.StringVar(&f.profilePort, "profile-port", "7777", "the port of the profiling server")
	fs.BoolVar(&f.enableProfiling, "enable-profiling", false, "serve Go's profiles at /debug/pprof/ on --profile-port")
	fs.StringVar(&f.placement, "placement-host-address", "", "host:port of a placement service (cove placement, or Dapr's) for the actor API;\nof a comma-separated list, the first")
	fs.StringVar(&f.scheduler, "scheduler-host-address", "", "accepted and ignored: jobs run on the sidecar's own scheduler (--jobs-file)")
	fs.StringVar(&f.sentry, "sentry-address", "", "accepted and ignored: certificates come from --ca-dir")
	fs.StringVar(&f.controlPlane, "control-plane-address", "", "accepted and ignored: there is no control plane")
	fs.StringVar(&f.caDir, "ca-dir", "", "directory of the CA (ca.crt, ca.key) that sidecars calling each other share; created on first use\n(env COVE_CA_DIR; default <user cache dir>/cove/ca)")
	fs.StringVar(&f.jobsFile, "jobs-file", "", "the SQLite file the jobs API keeps jobs in; sidecars sharing it deliver each job once\n(env COVE_JOBS_FILE; default <user cache dir>/cove/jobs.db)")
	fs.StringVar(&f.nameResolutionFile, "name-resolution-file", "", "the SQLite name resolution file, when --config names no other\n(env COVE_NAME_RESOLUTION_FILE; default <user cache dir>/cove/nameresolution.db)")
}

// sidecarRun is a parsed command line.
type sidecarRun struct {
	opts      standalone.Options
	logLevel  slog.Level
	logAsJSON bool
	grace     time.Duration
}

// parseSidecarArgs parses daprd's command line. Go's flag package, which
// daprd uses, accepts -app-id as well as --app-id; both work here.
func parseSidecarArgs(args []string, getenv func(string) string) (*sidecarRun, error) {
	var f sidecarFlags
	fs := pflag.NewFlagSet("sidecar", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	norm := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			norm = append(norm, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(a) > 2 {
			name, _, _ := strings.Cut(a[1:], "=")
			if fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		norm = append(norm, a)
	}
	if err := fs.Parse(norm); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: cove sidecar runs beside an app started separately", fs.Args())
	}
	var errs []error
	run := &sidecarRun{logAsJSON: f.logAsJSON, grace: time.Duration(f.gracefulShutdownSeconds) * time.Second}
	o := &run.opts
	o.AppID = f.appID
	if o.AppID == "" {
		errs = append(errs, errors.New("--app-id is required"))
	}
	port := func(flag, v string, def int) int {
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > 65535 {
			errs = append(errs, fmt.Errorf("--%s %q: not a port", flag, v))
			return def
		}
		return n
	}
	if o.AppPort = port("app-port", f.appPort, 0); o.AppPort < 0 {
		o.AppPort = 0
	}
	switch f.appProtocol {
	case "http", "grpc":
		o.AppProtocol = f.appProtocol
	case "https", "grpcs", "h2c":
		errs = append(errs, fmt.Errorf("--app-protocol %s is not supported yet; use http or grpc", f.appProtocol))
	default:
		errs = append(errs, fmt.Errorf("--app-protocol %q: use http or grpc", f.appProtocol))
	}
	o.AppChannelAddress = f.appChannelAddress
	o.HTTPPort = port("dapr-http-port", f.httpPort, 3500)
	o.GRPCPort = port("dapr-grpc-port", f.grpcPort, 50001)
	o.InternalPort = port("dapr-internal-grpc-port", f.internalPort, 0)
	if o.HTTPPort < 0 {
		o.HTTPPort = 3500
	}
	if o.InternalPort < 0 {
		o.InternalPort = 0
	}
	for a := range strings.SplitSeq(f.listenAddresses, ",") {
		if a = strings.Trim(strings.TrimSpace(a), "[]"); a != "" {
			o.ListenAddresses = append(o.ListenAddresses, a)
		}
	}
	o.ResourcesPaths = append(append(o.ResourcesPaths, f.resourcesPaths...), f.componentsPaths...)
	o.ConfigPath = f.config
	if f.mode != "standalone" {
		errs = append(errs, fmt.Errorf("--mode %q: cove sidecar runs in standalone mode only", f.mode))
	}
	if lvl, err := parseLogLevel(f.logLevel); err != nil {
		errs = append(errs, err)
	} else {
		run.logLevel = lvl
	}
	o.MaxRequestBodySize = sidecar.DefaultMaxRequestBodySize
	if f.maxRequestSizeMB > 0 {
		o.MaxRequestBodySize = int64(f.maxRequestSizeMB) << 20
	}
	if f.maxBodySize != "" {
		n, err := parseQuantity(f.maxBodySize)
		if err != nil {
			errs = append(errs, fmt.Errorf("--max-body-size: %w", err))
		}
		o.MaxRequestBodySize = n
	}
	o.MaxHeaderBytes = sidecar.DefaultMaxHeaderBytes
	if f.readBufferSizeKB > 0 {
		o.MaxHeaderBytes = f.readBufferSizeKB << 10
	}
	if f.readBufferSize != "" {
		n, err := parseQuantity(f.readBufferSize)
		if err != nil {
			errs = append(errs, fmt.Errorf("--read-buffer-size: %w", err))
		}
		o.MaxHeaderBytes = int(n)
	}
	o.AppMaxConcurrency = f.appMaxConcurrency
	o.PlacementAddress, _, _ = strings.Cut(strings.TrimSpace(f.placement), ",")
	if fs.Changed("enable-api-logging") {
		o.APILogging = &f.enableAPILogging
	}
	o.Profiling = f.enableProfiling
	if o.Profiling {
		o.ProfilePort = port("profile-port", f.profilePort, 7777)
	}
	o.Metrics = f.enableMetrics
	if o.Metrics {
		o.MetricsPort = port("metrics-port", f.metricsPort, 9090)
		o.MetricsPortOptional = !fs.Changed("metrics-port")
	}
	o.Namespace = getenv("NAMESPACE")
	o.HostIP = getenv("HOST_IP")
	o.APIToken = getenv("DAPR_API_TOKEN")
	o.AppAPIToken = getenv("APP_API_TOKEN")
	o.CADir = firstNonEmpty(f.caDir, getenv("COVE_CA_DIR"))
	o.NameResolutionFile = firstNonEmpty(f.nameResolutionFile, getenv("COVE_NAME_RESOLUTION_FILE"))
	if o.CADir == "" || o.NameResolutionFile == "" {
		caDir, nrFile, err := standalone.DefaultPaths()
		if err != nil {
			errs = append(errs, err)
		}
		o.CADir = firstNonEmpty(o.CADir, caDir)
		o.NameResolutionFile = firstNonEmpty(o.NameResolutionFile, nrFile)
	}
	if o.JobsFile = firstNonEmpty(f.jobsFile, getenv("COVE_JOBS_FILE")); o.JobsFile == "" {
		file, err := standalone.DefaultJobsFile()
		if err != nil {
			errs = append(errs, err)
		}
		o.JobsFile = file
	}
	o.RuntimeVersion = control.Version
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return run, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseQuantity reads a size as Kubernetes writes quantities, which daprd's
// --max-body-size takes: a number of bytes, or one with a suffix (Ki, Mi,
// Gi, or k, M, G).
func parseQuantity(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 4Mi)", s)
	}
	return n * mult, nil
}

func newSidecarCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sidecar --app-id ID [--app-port PORT] [--resources-path DIR]... [flags]",
		Short: "Run one Dapr sidecar for an app started separately, like daprd",
		Long: `cove sidecar runs one Dapr-compatible sidecar outside an environment, taking
daprd's flags with daprd's defaults (Dapr HTTP API on 3500, gRPC on 50001), for an
app you start yourself.

It loads every component YAML in the resources paths, in Dapr's format or ACA's
(an ACA component is named after its file), honouring scopes. Components of
kinds cove does not run yet are skipped with a warning.

Sidecars find each other through name resolution: each registers its app id
and internal address, refreshed every updateInterval and removed when it stops.
The default registry is a SQLite file under the user's cache directory, shared
by every sidecar of the user on this machine; a Dapr Configuration (--config)
may name nameresolution sqlite, redis or postgresql instead (spec.nameResolution).

Sidecars call each other over HTTP/2 with mutual TLS. Certificates carry the
SPIFFE ID spiffe://<trust domain>/ns/<namespace>/<app id> and come from the CA
in --ca-dir (created on first use); sidecars that should call each other must
share it. The trust domain is spec.accessControl.trustDomain of --config
("public" by default), the namespace $NAMESPACE ("default"). The Configuration's
access control applies to calls from other sidecars, by the caller's certified id.

As with daprd, DAPR_API_TOKEN makes the Dapr API require that token and
APP_API_TOKEN is sent to the app on every call.

Flags marked "accepted" are taken so daprd command lines work unchanged.`,
		Example: `  cove sidecar --app-id orders --app-port 8080 --resources-path ./components
  cove sidecar --app-id checkout --dapr-http-port 3501 --dapr-grpc-port 50002 --config ./config.yaml`,
		// daprd's single-dash long flags (-app-id) need parsing of our own.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" || a == "-help" {
					return cmd.Help()
				}
			}
			run, err := parseSidecarArgs(args, os.Getenv)
			if err != nil {
				return err
			}
			opts := &slog.HandlerOptions{Level: run.logLevel}
			var h slog.Handler = slog.NewTextHandler(cmd.ErrOrStderr(), opts)
			if run.logAsJSON {
				h = slog.NewJSONHandler(cmd.ErrOrStderr(), opts)
			}
			run.opts.Logger = slog.New(h)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			err = standalone.Run(ctx, run.opts, run.grace)
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	var f sidecarFlags
	f.register(cmd.Flags())
	return cmd
}
