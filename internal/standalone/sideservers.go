package standalone

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// auxServer is one of the sidecar's side servers: Go's profiles (daprd's
// --enable-profiling on --profile-port) or the metrics (--enable-metrics on
// --metrics-port).
type auxServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func startAux(name string, ln net.Listener, h http.Handler, log *slog.Logger) *auxServer {
	a := &auxServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" server stopped", slog.Any("error", err))
		}
	}()
	log.Info(name+" server listening", slog.String("addr", ln.Addr().String()))
	return a
}

// profilerHandler serves Go's profiles of the sidecar process at
// /debug/pprof/.
func profilerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startMetrics serves the process's metrics at /metrics on ln, where
// Prometheus scrapes daprd, and returns the sidecar's recorder: nil when
// the Configuration turns metrics off, the process's own still served.
func startMetrics(ln net.Listener, appID string, cfg *spec.DaprConfiguration, log *slog.Logger) (*metrics.Sidecar, *auxServer, error) {
	reg := metrics.NewRegistry()
	d, err := metrics.NewDapr(reg)
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	var rec *metrics.Sidecar
	if cfg.MetricsEnabled() {
		if rec, err = d.Sidecar(appID, resources.MetricOptions(cfg)); err != nil {
			_ = ln.Close()
			return nil, nil, fmt.Errorf("--config %s: %w", cfg.File, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	return rec, startAux("metrics", ln, mux, log), nil
}

// close stops it at once: a profile being taken is cut short.
func (a *auxServer) close() {
	if a != nil {
		_ = a.srv.Close()
		<-a.done
	}
}

func (a *auxServer) addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// ProfileAddr is the profiling server's address, "" when profiling is off.
func (s *Sidecar) ProfileAddr() string { return s.prof.addr() }

// MetricsAddr is the metrics server's address, "" when metrics are off.
func (s *Sidecar) MetricsAddr() string { return s.metricsSrv.addr() }
