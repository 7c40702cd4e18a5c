package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	v1pb "github.com/dapr/dapr/pkg/proto/placement/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/cove-env/cove/internal/metrics"
)

// Config is `cove placement`'s listeners and settings.
type Config struct {
	Options
	// Listener serves the placement gRPC API, in plain text (daprd in
	// self-hosted mode with mTLS off dials it so).
	Listener net.Listener
	// KeepAliveTime and KeepAliveTimeout are the server's HTTP/2 pings: a
	// sidecar that does not answer is dropped and its types leave the
	// table. Defaults 2s and 3s, daprd's.
	KeepAliveTime, KeepAliveTimeout time.Duration
	// Healthz, when set, serves GET /healthz (200 once serving) and, with
	// Metadata, GET /placement/state (the tables as JSON).
	Healthz  net.Listener
	Metadata bool
	// Metrics, when set, serves Prometheus metrics at /metrics.
	Metrics net.Listener
}

// Serve runs the service until ctx ends; it closes the listeners.
func Serve(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	srv := New(cfg.Options)
	gs := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: or(cfg.KeepAliveTime, 2*time.Second), Timeout: or(cfg.KeepAliveTimeout, 3*time.Second)}),
		// daprd pings at its own pace; it must not be dropped for it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	v1pb.RegisterPlacementServer(gs, srv)

	var aux []*http.Server
	if cfg.Healthz != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		if cfg.Metadata {
			mux.HandleFunc("GET /placement/state", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(srv.State())
			})
		}
		aux = append(aux, serveAux(cfg.Healthz, mux, log))
	}
	if cfg.Metrics != nil {
		reg := metrics.NewRegistry()
		count := func(actors bool) func() float64 {
			return func() float64 {
				n := 0
				for _, ns := range srv.State().Namespaces {
					if actors {
						n += len(ns.Hosts)
					} else {
						n += ns.Conns
					}
				}
				return float64(n)
			}
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dapr_placement_runtimes_total", Help: "The total number of runtimes reported to the placement service."}, count(false)),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dapr_placement_actor_runtimes_total", Help: "The total number of actor runtimes reported to the placement service."}, count(true)),
		)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		aux = append(aux, serveAux(cfg.Metrics, mux, log))
	}

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(cfg.Listener) }()
	log.Info("placement service started", slog.String("addr", cfg.Listener.Addr().String()),
		slog.Int64("replicationFactor", srv.opts.ReplicationFactor))
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("placement gRPC server: %w", err)
	}
	srv.Close()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	for _, a := range aux {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func serveAux(ln net.Listener, h http.Handler, log *slog.Logger) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("placement side server stopped", slog.String("addr", ln.Addr().String()), slog.Any("error", err))
		}
	}()
	return s
}
