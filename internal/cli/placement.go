package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/placement"
)

// placementFlags are daprd's placement flags that apply to one node, with
// its names and defaults; the Raft and certificate ones are accepted so
// existing command lines work.
type placementFlags struct {
	port, healthzPort, metricsPort                 int
	listenAddress, healthzListenAddress, logLevel  string
	metricsListenAddress                           string
	replicationFactor                              int
	keepAliveTime, keepAliveTimeout, disseminateTO time.Duration
	metadataEnabled, enableMetrics, logAsJSON, tls bool
	// Accepted and ignored.
	id, raftLogStorePath, trustDomain, trustAnchorsFile, sentryAddress, mode string
	initialCluster                                                           []string
	inmemStore                                                               bool
}

func newPlacementCmd() *cobra.Command {
	var f placementFlags
	cmd := &cobra.Command{
		Use:   "placement [flags]",
		Short: "Run an actor placement service for cove sidecars and daprd, like Dapr's placement",
		Long: `cove placement serves Dapr's placement protocol (dapr.proto.placement.v1) on --port
(50005, as Dapr's placement). Sidecars started with --placement-host-address
report the actor types their apps host; the service sends every sidecar of the
same namespace the table of hosts per type, and each sidecar finds an actor's
host by consistent hashing over it (--replicationFactor virtual nodes per host).
Both cove sidecars and daprd 1.18 sidecars can use it, together.

It is a single node: no Raft, no leader election. The table lives in the process;
when it restarts, sidecars reconnect and report again. The gRPC API is plain
text, as Dapr's placement in self-hosted mode with mTLS off: --tls-enabled is
refused.`,
		Example: `  cove placement
  cove placement --port 50006 --healthz-port 8081 --metadata-enabled`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.tls {
				return errors.New("--tls-enabled: cove placement serves plain gRPC only; run the sidecars with mTLS off")
			}
			level, err := parseLogLevel(f.logLevel)
			if err != nil {
				return err
			}
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler = slog.NewTextHandler(cmd.ErrOrStderr(), opts)
			if f.logAsJSON {
				h = slog.NewJSONHandler(cmd.ErrOrStderr(), opts)
			}
			log := slog.New(h)
			cfg := placement.Config{
				Options: placement.Options{
					ReplicationFactor:  int64(f.replicationFactor),
					DisseminateTimeout: f.disseminateTO,
					Logger:             log,
				},
				KeepAliveTime:    f.keepAliveTime,
				KeepAliveTimeout: f.keepAliveTimeout,
				Metadata:         f.metadataEnabled,
			}
			var lns []net.Listener
			closeAll := func() {
				for _, ln := range lns {
					_ = ln.Close()
				}
			}
			open := func(flag, addr string, port int) (net.Listener, error) {
				ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
				if err != nil {
					closeAll()
					return nil, fmt.Errorf("--%s %d: %w", flag, port, err)
				}
				lns = append(lns, ln)
				return ln, nil
			}
			if cfg.Listener, err = open("port", f.listenAddress, f.port); err != nil {
				return err
			}
			if f.healthzPort > 0 {
				if cfg.Healthz, err = open("healthz-port", f.healthzListenAddress, f.healthzPort); err != nil {
					return err
				}
			}
			if f.enableMetrics && f.metricsPort > 0 {
				if cfg.Metrics, err = open("metrics-port", f.metricsListenAddress, f.metricsPort); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			err = placement.Serve(ctx, cfg)
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&f.port, "port", 50005, "the port of the placement gRPC API")
	fs.StringVar(&f.listenAddress, "listen-address", "", "the address the gRPC API listens on (default: every interface)")
	fs.IntVar(&f.healthzPort, "healthz-port", 8080, "the port of GET /healthz (0: none)")
	fs.StringVar(&f.healthzListenAddress, "healthz-listen-address", "", "the address the healthz server listens on")
	fs.BoolVar(&f.metadataEnabled, "metadata-enabled", false, "serve the placement tables as JSON at GET /placement/state on --healthz-port")
	fs.IntVar(&f.replicationFactor, "replicationFactor", 100, "virtual nodes per host on each actor type's hash ring")
	fs.DurationVar(&f.keepAliveTime, "keepalive-time", 2*time.Second, "how often the service pings sidecars to find dropped ones")
	fs.DurationVar(&f.keepAliveTimeout, "keepalive-timeout", 3*time.Second, "how long a sidecar has to answer a ping before it is dropped")
	fs.DurationVar(&f.disseminateTO, "disseminate-timeout", 8*time.Second, "how long a sidecar has to acknowledge a step of a table update before it is dropped")
	fs.StringVar(&f.logLevel, "log-level", "info", "log verbosity: debug, info, warn, error, fatal or panic")
	fs.BoolVar(&f.logAsJSON, "log-as-json", false, "print logs as JSON")
	fs.IntVar(&f.metricsPort, "metrics-port", 9090, "the port of the Prometheus metrics server")
	fs.StringVar(&f.metricsListenAddress, "metrics-listen-address", "", "the address the metrics server listens on")
	fs.BoolVar(&f.enableMetrics, "enable-metrics", true, "serve Prometheus metrics at /metrics on --metrics-port")
	fs.BoolVar(&f.tls, "tls-enabled", false, "refused: cove placement serves plain gRPC")
	fs.StringVar(&f.id, "id", "dapr-placement-0", "accepted and ignored: a single node")
	fs.StringSliceVar(&f.initialCluster, "initial-cluster", nil, "accepted and ignored: a single node, no Raft")
	fs.BoolVar(&f.inmemStore, "inmem-store-enabled", true, "accepted and ignored: the table is kept in memory")
	fs.StringVar(&f.raftLogStorePath, "raft-logstore-path", "", "accepted and ignored: no Raft")
	fs.StringVar(&f.trustDomain, "trust-domain", "localhost", "accepted and ignored: no mTLS")
	fs.StringVar(&f.trustAnchorsFile, "trust-anchors-file", "", "accepted and ignored: no mTLS")
	fs.StringVar(&f.sentryAddress, "sentry-address", "", "accepted and ignored: no mTLS")
	fs.StringVar(&f.mode, "mode", "standalone", "accepted and ignored: standalone")
	return cmd
}

// parseLogLevel reads Dapr's log levels.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "fatal", "panic":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: use debug, info, warn, error, fatal or panic", s)
}
