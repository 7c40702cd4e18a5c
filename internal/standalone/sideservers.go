package standalone

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cove-env/cove/internal/metrics"
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

// metricsHandler serves reg at /metrics, where Prometheus scrapes daprd.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	return mux
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
