package sidecar

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// APILogging is daprd's API logging: --enable-api-logging (ACA's
// dapr.enableApiLogging) and a Configuration's spec.logging.apiLogging.
// Each call to the Dapr API is logged at info level once it is answered,
// with daprd's message and fields: "HTTP API Called" or "gRPC API Called",
// method, useragent, code, duration in milliseconds and, over HTTP, size.
type APILogging struct {
	Enabled bool
	// ObfuscateURLs logs the route ("GET /v1.0/state/{store}/{key}")
	// instead of the path, which may carry personal data.
	ObfuscateURLs bool
	// OmitHealthChecks leaves the health endpoints out.
	OmitHealthChecks bool
}

// apiLogger is where API calls are logged, nil when they are not.
func (s *Sidecar) apiLogger() *slog.Logger {
	switch {
	case !s.cfg.APILogging.Enabled:
		return nil
	case s.cfg.APILogger != nil:
		return s.cfg.APILogger
	}
	return s.log
}

// instrument wraps the HTTP API's entry point with API logging and
// metrics, or returns it as it is when both are off, so a call pays for
// neither unless asked.
func (s *Sidecar) instrument(next http.HandlerFunc) http.HandlerFunc {
	cfg, log, m := s.cfg.APILogging, s.apiLogger(), s.cfg.Metrics
	if log == nil && m == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The path as the caller sent it: routing cleans it.
		path := r.URL.Path
		rec := &statusRecorder{ResponseWriter: w}
		next(rec, r)
		elapsed := time.Since(start)
		if m != nil {
			m.HTTPServed(r.Method, path, r.ContentLength, rec.status(), rec.size, elapsed)
		}
		if log == nil || cfg.OmitHealthChecks && isHealthCheck(r.URL.Path) {
			return
		}
		if cfg.ObfuscateURLs {
			path = route(r)
		}
		attrs := []slog.Attr{slog.String("method", r.Method+" "+path)}
		if ua := r.Header.Get("User-Agent"); ua != "" {
			attrs = append(attrs, slog.String("useragent", ua))
		}
		attrs = append(attrs,
			slog.Int("code", rec.status()),
			slog.Int64("size", rec.size),
			slog.Int64("duration", elapsed.Milliseconds()))
		log.LogAttrs(r.Context(), slog.LevelInfo, "HTTP API Called", attrs...)
	}
}

func isHealthCheck(path string) bool {
	return path == "/v1.0/healthz" || path == "/v1.0/healthz/outbound"
}

// route names the endpoint a request matched, without its values: the
// pattern the mux chose (serveHTTP sets the invocation route for calls
// that name their app in a header); "/" for a call answered before
// routing.
func route(r *http.Request) string {
	// Patterns may start with a verb ("GET /v1.0/..."); the log line
	// carries the request's own.
	if i := strings.IndexByte(r.Pattern, '/'); i >= 0 {
		return r.Pattern[i:]
	}
	return "/"
}

// statusRecorder notes the status and the body size an API call answered
// with. Flush and Unwrap keep streaming invocations working through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
	size int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
