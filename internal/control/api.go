package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/cove-env/cove/internal/engine"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

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
//
// The socket is the access control: only users who can open it (the
// environment's owner) reach the API, profiles included.
func (e *Env) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(e.metricsReg))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := e.Status()
		e.addContainers(r.Context(), &st)
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/replicas/{name}/env", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		e.mu.Lock()
		rep := e.replicas[name]
		e.mu.Unlock()
		if rep == nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no replica named %q; `cove ps` lists them", name)})
			return
		}
		re := ReplicaEnv{Replica: rep.name, Dir: rep.rev.entry.Dir, Env: rep.env, Hosts: e.hostsFile}
		if rep.rev.entry.Containers() && e.engine != nil {
			re = ReplicaEnv{Replica: rep.name, Engine: e.engine.Bin}
			for _, c := range rep.rev.entry.App.Properties.Template.Containers {
				re.Containers = append(re.Containers, c.Name)
				re.ContainerNames = append(re.ContainerNames, engine.ContainerName(e.podName(rep.name), c.Name))
			}
		}
		writeJSON(w, http.StatusOK, re)
	})
	mux.HandleFunc("POST /v1/reload", e.serveReload)
	mux.HandleFunc("GET /v1/logs", e.serveLogs)
	mux.HandleFunc("GET /v1/apps/{app}/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("app", r.PathValue("app"))
		if q.Get("tail") == "" {
			q.Set("tail", "100")
		}
		r.URL.RawQuery = q.Encode()
		e.serveLogs(w, r)
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		e.requestShutdown()
	})
	return mux
}

// serveReload is POST /v1/reload: 200 with a ReloadResult, or 400 with the
// environment file's problems.
func (e *Env) serveReload(w http.ResponseWriter, r *http.Request) {
	res, err := e.Reload(r.Context())
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
func (e *Env) serveLogs(w http.ResponseWriter, r *http.Request) {
	q, err := parseLogQuery(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	if r.URL.Query().Get("follow") == "" {
		logs, err := e.Logs(q)
		if err != nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, logs)
		return
	}
	if _, err := e.logReplicas(q); err != nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	_ = e.followLogs(r.Context(), q, func(l LogEntry) error {
		if err := enc.Encode(l); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
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

// Client talks to a running environment's management API.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the environment whose file is envFile.
func NewClient(envFile string) *Client {
	sock := SocketPath(envFile)
	return &Client{socket: sock, hc: &http.Client{
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
	req, err := http.NewRequestWithContext(ctx, method, "http://cove"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return ErrNotRunning{Socket: c.socket}
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
	for pingSocket(c.socket) || pid > 0 && supervisor.ProcessAlive(pid) {
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
