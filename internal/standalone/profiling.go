package standalone

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// profiler serves Go's profiles of the sidecar process at /debug/pprof/,
// as daprd does with --enable-profiling on --profile-port.
type profiler struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func startProfiler(ln net.Listener, log *slog.Logger) *profiler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &profiler{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("profiling server stopped", slog.Any("error", err))
		}
	}()
	log.Info("profiling server listening", slog.String("addr", ln.Addr().String()))
	return p
}

// close stops it at once: a profile being taken is cut short.
func (p *profiler) close() {
	_ = p.srv.Close()
	<-p.done
}

// ProfileAddr is the profiling server's address, "" when profiling is off.
func (s *Sidecar) ProfileAddr() string {
	if s.prof == nil {
		return ""
	}
	return s.prof.ln.Addr().String()
}

// closeProfiler is part of Close.
func (s *Sidecar) closeProfiler() {
	if s.prof != nil {
		s.prof.close()
	}
}
