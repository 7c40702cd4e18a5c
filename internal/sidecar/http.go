package sidecar

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
)

// handlerFunc is an HTTP handler that returns its error instead of writing
// it; writeError renders it in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Sidecar) handle(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// invokeRoute is the invocation endpoint, also the route API logging names
// for a call that names its app in a header.
const invokeRoute = "/v1.0/invoke/{app}/method/{method...}"

// routes builds the Dapr v1.0 HTTP API but invocation, which serveHTTP
// takes before routing. Anything unmatched, a known path with another verb
// included, falls through to "/", as daprd's router falls back to its
// invoke handler.
func (s *Sidecar) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/healthz", s.handle(s.healthz))
	mux.HandleFunc("GET /v1.0/healthz/outbound", s.handle(s.healthzOutbound))
	mux.HandleFunc("GET /v1.0/metadata", s.handle(s.getMetadata))
	mux.HandleFunc("PUT /v1.0/metadata/{key}", s.handle(s.putMetadata))
	mux.HandleFunc("POST /v1.0/shutdown", s.handle(s.postShutdown))

	for _, verb := range []string{http.MethodPost, http.MethodPut} {
		mux.HandleFunc(verb+" /v1.0/state/{store}", s.handle(s.saveState))
		mux.HandleFunc(verb+" /v1.0/state/{store}/bulk", s.handle(s.bulkGetState))
		mux.HandleFunc(verb+" /v1.0/state/{store}/transaction", s.handle(s.transactState))
	}
	mux.HandleFunc("POST /v1.0-alpha1/state/{store}/query", s.handle(s.queryState))
	mux.HandleFunc("GET /v1.0/state/{store}/{key}", s.handle(s.getState))
	mux.HandleFunc("DELETE /v1.0/state/{store}/{key}", s.handle(s.deleteState))

	mux.HandleFunc("GET /v1.0/secrets/{store}/bulk", s.handle(s.bulkGetSecrets))
	mux.HandleFunc("GET /v1.0/secrets/{store}/{key}", s.handle(s.getSecret))

	mux.HandleFunc("POST /v1.0/bindings/{name}", s.handle(s.invokeBinding))
	mux.HandleFunc("PUT /v1.0/bindings/{name}", s.handle(s.invokeBinding))
	mux.HandleFunc("POST /v1.0-alpha1/lock/{store}", s.handle(s.tryLock))
	mux.HandleFunc("POST /v1.0-alpha1/unlock/{store}", s.handle(s.unlock))

	for _, v := range []string{"/v1.0", "/v1.0-alpha1"} {
		mux.HandleFunc("GET "+v+"/configuration/{store}", s.handle(s.getConfiguration))
		mux.HandleFunc("GET "+v+"/configuration/{store}/subscribe", s.handle(s.subscribeConfiguration))
		mux.HandleFunc("GET "+v+"/configuration/{store}/{id}/unsubscribe", s.handle(s.unsubscribeConfiguration))
	}

	s.absentRoutes(mux)
	mux.HandleFunc("/", s.handle(notFound))
	return mux
}

// serveHTTP is the sidecar's entry point. A request naming its target app
// in a dapr-app-id header (or in Basic auth as dapr-app-id:<id>) is an
// invocation whatever its path; everything else goes to the API routes.
func (s *Sidecar) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.checkAPIToken(w, r) {
		return
	}
	s.traceHTTP(w, r)
	if limit := s.cfg.MaxRequestBodySize; limit > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > limit {
			s.writeError(w, r, &http.MaxBytesError{Limit: limit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	id, method := headerTarget(r.Header), ""
	if id != "" {
		method = strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	} else {
		// The method is taken from the path as sent, before cleaning:
		// a trailing slash or "a//b" may matter to the app's routes.
		id, method = pathTarget(r.URL.Path)
	}
	if id != "" {
		r.Pattern = invokeRoute
		if err := s.invoke(w, r, id, method); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	// daprd routes on the cleaned path (no "//", no trailing slash); clean
	// it here too rather than let the mux answer with a redirect. As there,
	// the path is cleaned as sent, escaped: "a%2F..%2Fb" is one segment,
	// a state key, not a dot segment.
	if p := r.URL.EscapedPath(); len(p) > 1 {
		if c := path.Clean(p); c != p {
			if u, err := url.PathUnescape(c); err == nil {
				r.URL.Path, r.URL.RawPath = u, c
			}
		}
	}
	s.mux.ServeHTTP(w, r)
}

// headerTarget returns the app id a request names outside its path, and
// removes the dapr-app-id header, which is for the sidecar only.
func headerTarget(h http.Header) string {
	if v := h[invoke.HeaderAppID]; len(v) > 0 && v[0] != "" {
		delete(h, invoke.HeaderAppID)
		return v[0]
	}
	auth := h.Get("Authorization")
	if rest, ok := strings.CutPrefix(auth, "Basic "); ok {
		if dec, err := base64.StdEncoding.DecodeString(rest); err == nil {
			user, id, ok := strings.Cut(string(dec), ":")
			if ok && strings.EqualFold(user, "dapr-app-id") && id != "" && !strings.Contains(id, ":") {
				return id
			}
		}
	}
	return ""
}

// pathTarget splits /v1.0/invoke/{app}/method/{method} as daprd does: the
// prefix may repeat slashes, and the method is everything after the first
// "/method/", unchanged ("" is the app's root). It returns "" for any other
// path.
func pathTarget(p string) (appID, method string) {
	rest, ok := cutSegment(p, "v1.0")
	if ok {
		rest, ok = cutSegment(rest, "invoke")
	}
	if !ok {
		return "", ""
	}
	rest = strings.TrimLeft(rest, "/")
	i := strings.Index(rest, "/method/")
	if i <= 0 {
		return "", ""
	}
	return rest[:i], rest[i+len("/method/"):]
}

// cutSegment removes the path segment seg, after any slashes, from the
// front of p; what remains starts with a slash.
func cutSegment(p, seg string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimLeft(p, "/"), seg)
	if !ok || rest == "" || rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// notFound is daprd's answer to a request no route matches: its invoke
// fallback finding no target.
func notFound(http.ResponseWriter, *http.Request) error {
	return daprerr.New(daprerr.DirectInvoke,
		"failed getting app id either from the URL path or the header dapr-app-id").
		WithStatus(http.StatusNotFound, codes.NotFound)
}

// writeError renders err as Dapr's JSON error body with its status.
func (s *Sidecar) writeError(w http.ResponseWriter, r *http.Request, err error) {
	// A body over the limit is the caller's mistake wherever it was found
	// (up front from Content-Length, or while streaming): 413, as daprd.
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		err = daprerr.New(daprerr.BodyTooLarge, "request body larger than the limit of %d bytes (dapr.httpMaxRequestSize)", tooLarge.Limit)
	}
	e := daprerr.From(err)
	level := slog.LevelDebug
	if e.Status() >= http.StatusInternalServerError {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "dapr API error",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("code", e.Kind.Code), slog.String("error", e.Message))
	body, mErr := json.Marshal(e.Body())
	if mErr != nil {
		body = []byte(`{"errorCode":"ERR_INTERNAL","message":"failed to encode error"}`)
	}
	writeJSON(w, e.Status(), body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Sidecar) healthz(w http.ResponseWriter, r *http.Request) error {
	if !s.AppReady(r.Context()) {
		return daprerr.New(daprerr.HealthNotReady, "dapr is not ready: [app-channel]")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// healthzOutbound is ready as soon as the sidecar serves: its building
// blocks are wired before New returns.
func (s *Sidecar) healthzOutbound(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Sidecar) postShutdown(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.shutdown()
	return nil
}

func (s *Sidecar) putMetadata(w http.ResponseWriter, r *http.Request) error {
	// Past the cap the attribute is refused whatever it holds.
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxExtendedMetadata+1))
	if err != nil {
		return daprerr.Wrap(daprerr.BadRequest, err, "failed to read request body")
	}
	if err := s.SetExtendedMetadata(r.PathValue("key"), string(body)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Sidecar) getMetadata(w http.ResponseWriter, _ *http.Request) error {
	body, err := json.Marshal(s.Metadata())
	if err != nil {
		return daprerr.Wrap(daprerr.MetadataGet, err, "failed to encode metadata")
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// appPort splits the app address for the metadata API.
func appPort(addr string) (host string, port int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return h, 0
	}
	return h, n
}
