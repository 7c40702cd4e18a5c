package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// managed is the running environment as the management API sees it; the
// API reaches it only through these methods, so a dashboard or another
// front end can serve the same calls.
type managed interface {
	// Status reports the environment as it runs now, with the containers
	// of its container-mode replicas.
	Status(ctx context.Context) Status
	// ReplicaEnv is what `cove exec` needs to run a command as the named
	// replica; false when no replica has that name.
	ReplicaEnv(name string) (ReplicaEnv, bool)
	// Reload re-reads the environment file and applies it; an invalid
	// file is a spec.Problems error.
	Reload(ctx context.Context) (ReloadResult, error)
	// Logs returns the lines q selects, oldest first, or says why q
	// selects nothing.
	Logs(q LogQuery) ([]LogEntry, error)
	// FollowLogs checks q as Logs does, then yields what Logs(q) returns
	// and every line written after it, until ctx ends, the environment
	// stops or the caller stops.
	FollowLogs(ctx context.Context, q LogQuery) (iter.Seq[LogEntry], error)
	// Spec is the environment's desired state as applied now, which the
	// ARM-shaped routes serve (arm.go).
	Spec() EnvSpec
	// RestartRevision restarts the replicas of an app's active revision
	// in place.
	RestartRevision(app, revision string) error
	// Shutdown stops the environment gracefully, without waiting.
	Shutdown()
	// Metrics serves the metrics for Prometheus.
	Metrics() http.Handler
}

// The management API: JSON over HTTP on the environment's unix socket.
//
//	GET  /v1/status                  the environment (Status)
//	GET  /v1/replicas/{name}/env     a replica's environment (ReplicaEnv)
//	POST /v1/reload                  re-read the environment file (ReloadResult)
//	GET  /v1/logs                    replicas' lines (?app, revision, replica, tail=N, since=RFC3339, follow=1 to stream NDJSON)
//	GET  /v1/apps/{app}/logs         the same for one app, the last 100 lines unless tail says
//	POST /v1/shutdown                stop the environment gracefully
//	GET  /metrics                    the sidecars' Dapr metrics and cove's own, for Prometheus
//	GET  /debug/pprof/...            Go's profiles of the cove process
//	GET  /subscriptions/...          the environment as ARM resources (arm.go)
//
// The socket is the access control: only users who can open it (the
// environment's owner) reach the API, profiles included.
func apiHandler(m managed) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Metrics())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.Status(r.Context()))
	})
	mux.HandleFunc("GET /v1/replicas/{name}/env", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		re, ok := m.ReplicaEnv(name)
		if !ok {
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no replica named %q; `cove ps` lists them", name)})
			return
		}
		writeJSON(w, http.StatusOK, re)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) { serveReload(m, w, r) })
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) { serveLogs(m, w, r) })
	mux.HandleFunc("GET /v1/apps/{app}/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("app", r.PathValue("app"))
		if q.Get("tail") == "" {
			q.Set("tail", "100")
		}
		r.URL.RawQuery = q.Encode()
		serveLogs(m, w, r)
	})
	armRoutes(mux, m)
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		m.Shutdown()
	})
	return mux
}

// serveReload is POST /v1/reload: 200 with a ReloadResult, or 400 with the
// environment file's problems.
func serveReload(m managed, w http.ResponseWriter, r *http.Request) {
	res, err := m.Reload(r.Context())
	var probs spec.Problems
	switch {
	case errors.As(err, &probs):
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the environment file is invalid; nothing was changed:\n" + probs.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// serveLogs is GET /v1/logs: a JSON array of LogEntry, or with follow=1
// one LogEntry per line as they are written.
func serveLogs(m managed, w http.ResponseWriter, r *http.Request) {
	q, err := parseLogQuery(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	if r.URL.Query().Get("follow") == "" {
		logs, err := m.Logs(q)
		if err != nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, logs)
		return
	}
	lines, err := m.FollowLogs(r.Context(), q)
	if err != nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for l := range lines {
		if err := enc.Encode(l); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Client talks to a running environment's management API, on its unix
// socket or over TCP (NewTCPClient).
type Client struct {
	// base is the URL paths are under; token, the bearer token over TCP;
	// where, what errors say was not answering.
	base, token, where string
	socket             string // empty over TCP
	hc                 *http.Client
}

// NewClient returns a client for the environment whose file is envFile.
func NewClient(envFile string) *Client {
	sock := SocketPath(envFile)
	return &Client{base: "http://cove", where: sock, socket: sock, hc: &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}
}

// ErrNotRunning is returned when no environment answers on the socket.
type ErrNotRunning struct{ Socket string }

func (e ErrNotRunning) Error() string {
	return fmt.Sprintf("no running environment answers at %s; start one with `cove up`", e.Socket)
}

// apiTimeout bounds a management call; a reload, which waits for new
// revisions, is bounded by the server instead.
const apiTimeout = 10 * time.Second

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	if path != "/v1/reload" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, apiTimeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return ErrNotRunning{Socket: c.where}
	}
	defer resp.Body.Close()
	if err := apiErrorOf(resp); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// apiErrorOf is the error a management API response carries, if any.
func apiErrorOf(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var ae apiError
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
		return fmt.Errorf("%s", ae.Error)
	}
	var arm ARMError
	if json.Unmarshal(body, &arm) == nil && arm.Error.Code != "" {
		// As az prints it.
		return fmt.Errorf("(%s) %s", arm.Error.Code, arm.Error.Message)
	}
	return fmt.Errorf("management API answered %s", resp.Status)
}

// Status fetches the environment's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", &s)
	return s, err
}

// ReplicaEnv fetches a replica's environment.
func (c *Client) ReplicaEnv(ctx context.Context, replica string) (ReplicaEnv, error) {
	var re ReplicaEnv
	err := c.do(ctx, http.MethodGet, "/v1/replicas/"+replica+"/env", &re)
	return re, err
}

// Shutdown asks the environment to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil)
}

// WaitStopped waits until the environment no longer answers (it closes
// its socket once every replica, sidecar and component has stopped) and
// its process pid has exited.
func (c *Client) WaitStopped(ctx context.Context, pid int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for c.socket != "" && pingSocket(c.socket) || pid > 0 && supervisor.ProcessAlive(pid) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// pingSocket reports whether something answers on a unix socket.
func pingSocket(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
