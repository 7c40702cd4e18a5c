package control

import (
	"context"
	"errors"
	"io"
	"iter"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/spec"
)

// fakeManaged stands in for a running environment behind the management
// API, so the API's own behaviour (routes, statuses, JSON, errors) is
// tested apart from the environment's; the run tests cover both together.
type fakeManaged struct {
	status    Status
	spec      EnvSpec
	replicas  map[string]ReplicaEnv
	reloadRes ReloadResult
	reloadErr error
	// onReload, when set, is called by Reload before it returns.
	onReload func()
	logs     []LogEntry
	logsErr  error

	mu        sync.Mutex
	reloads   int
	queries   []LogQuery
	shutdowns int
	restarts  []string
	// hold keeps a follow open until its request ends; followed gets a
	// value when a follow's iteration ends.
	hold     bool
	followed chan struct{}
}

func (f *fakeManaged) Status(context.Context) Status { return f.status }

func (f *fakeManaged) Spec() EnvSpec { return f.spec }

func (f *fakeManaged) ReplicaEnv(name string) (ReplicaEnv, bool) {
	re, ok := f.replicas[name]
	return re, ok
}

func (f *fakeManaged) Reload(context.Context) (ReloadResult, error) {
	f.mu.Lock()
	f.reloads++
	f.mu.Unlock()
	if f.onReload != nil {
		f.onReload()
	}
	return f.reloadRes, f.reloadErr
}

func (f *fakeManaged) Logs(q LogQuery) ([]LogEntry, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return f.logs, f.logsErr
}

// FollowLogs yields the fake's lines, then waits for the caller to end.
func (f *fakeManaged) FollowLogs(ctx context.Context, q LogQuery) (iter.Seq[LogEntry], error) {
	lines, err := f.Logs(q)
	if err != nil {
		return nil, err
	}
	return func(yield func(LogEntry) bool) {
		defer func() { f.followed <- struct{}{} }()
		for _, l := range lines {
			if !yield(l) {
				return
			}
		}
		if f.hold {
			<-ctx.Done()
		}
	}, nil
}

func (f *fakeManaged) RestartRevision(app, revision string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, app+"/"+revision)
	return nil
}

func (f *fakeManaged) Shutdown() {
	f.mu.Lock()
	f.shutdowns++
	f.mu.Unlock()
}

func (f *fakeManaged) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "fake_metric 1\n")
	})
}

// serveAPI serves apiHandler(m) on the management socket of an
// environment file in a temporary directory and returns a client for it.
func serveAPI(t *testing.T, m managed) *Client {
	t.Helper()
	file := filepath.Join(t.TempDir(), "cove.yaml")
	if err := os.MkdirAll(StateDir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", SocketPath(file))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: apiHandler(m)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return NewClient(file)
}

// get sends a request through c's connection and returns the status,
// body and header of the answer.
func get(t *testing.T, c *Client, method, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://cove"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestAPIStatusAndReplicaEnv(t *testing.T) {
	f := &fakeManaged{
		status:   Status{Name: "shop", PID: 42, Apps: []AppStatus{{Name: "web", Revision: "web--a", Ingress: "external"}}},
		replicas: map[string]ReplicaEnv{"web--a-0": {Replica: "web--a-0", Dir: "/srv", Env: []string{"PORT=1"}, Hosts: "/h"}},
	}
	c := serveAPI(t, f)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.status, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	re, err := c.ReplicaEnv(ctx, "web--a-0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.replicas["web--a-0"], re); diff != "" {
		t.Errorf("replica env (-want +got):\n%s", diff)
	}

	code, body, h := get(t, c, http.MethodGet, "/v1/replicas/nope/env")
	if code != http.StatusNotFound || h.Get("Content-Type") != "application/json" {
		t.Errorf("unknown replica: %d %s", code, h.Get("Content-Type"))
	}
	if want := `"error": "no replica named \"nope\"; ` + "`cove ps`" + ` lists them"`; !strings.Contains(body, want) {
		t.Errorf("unknown replica's body %s lacks %s", body, want)
	}
	if _, err := c.ReplicaEnv(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `no replica named "nope"`) {
		t.Errorf("client's error for an unknown replica: %v", err)
	}

	if code, _, _ := get(t, c, http.MethodPost, "/v1/status"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/status: %d, want 405", code)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/v1/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /v1/nothing: %d, want 404", code)
	}
}

func TestAPIReload(t *testing.T) {
	ctx := context.Background()
	f := &fakeManaged{reloadRes: ReloadResult{Applied: []string{"web"}, Revisions: []string{"web: web--a → web--b"}}}
	c := serveAPI(t, f)
	res, err := c.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.reloadRes, res); diff != "" {
		t.Errorf("reload (-want +got):\n%s", diff)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/v1/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/reload: %d, want 405", code)
	}

	f.reloadErr = spec.Problems{{File: "cove.yaml", Line: 3, Path: "apps[0].file", Message: "missing"}}
	code, body, _ := get(t, c, http.MethodPost, "/v1/reload")
	if code != http.StatusBadRequest || !strings.Contains(body, "the environment file is invalid; nothing was changed:") || !strings.Contains(body, "missing") {
		t.Errorf("invalid file: %d %s", code, body)
	}

	f.reloadErr = errStopping
	code, body, _ = get(t, c, http.MethodPost, "/v1/reload")
	if code != http.StatusInternalServerError || !strings.Contains(body, `"error": "the environment is stopping"`) {
		t.Errorf("failed reload: %d %s", code, body)
	}
	if _, err := c.Reload(ctx); err == nil || err.Error() != "the environment is stopping" {
		t.Errorf("client's reload error: %v", err)
	}
}

func TestAPILogs(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &fakeManaged{logs: []LogEntry{
		{Time: t0, Replica: "web--a-0", Stream: "stdout", Text: "one"},
		{Time: t0.Add(time.Second), Replica: "web--a-0", Stream: "dapr", Text: "two"},
	}, hold: true, followed: make(chan struct{}, 3)}
	c := serveAPI(t, f)

	got, err := c.Logs(ctx, LogQuery{App: "web", Tail: 5, Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.logs, got); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	// One app's logs: the last 100 lines unless tail says.
	if code, _, _ := get(t, c, http.MethodGet, "/v1/apps/api/logs"); code != http.StatusOK {
		t.Errorf("app logs: %d", code)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/v1/apps/api/logs?tail=7&revision=api--b"); code != http.StatusOK {
		t.Errorf("app logs with tail: %d", code)
	}
	f.mu.Lock()
	queries := f.queries
	f.mu.Unlock()
	want := []LogQuery{
		{App: "web", Tail: 5, Since: t0},
		{App: "api", Tail: 100},
		{App: "api", Revision: "api--b", Tail: 7},
	}
	if diff := cmp.Diff(want, queries); diff != "" {
		t.Errorf("queries the API made (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"tail=x", "tail=-1", "since=yesterday"} {
		code, body, _ := get(t, c, http.MethodGet, "/v1/logs?"+bad)
		if code != http.StatusBadRequest || !strings.Contains(body, `"error": `) {
			t.Errorf("%s: %d %s, want 400 with an error", bad, code, body)
		}
	}

	// Following: the lines as NDJSON, flushed as they come.
	fctx, cancel := context.WithCancel(ctx)
	var followed []LogEntry
	done := make(chan error, 1)
	go func() {
		done <- c.FollowLogs(fctx, LogQuery{Replica: "web--a-0"}, func(l LogEntry) {
			followed = append(followed, l)
			if len(followed) == len(f.logs) {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not get the lines")
	}
	if diff := cmp.Diff(f.logs, followed); diff != "" {
		t.Errorf("followed (-want +got):\n%s", diff)
	}
	select {
	case <-f.followed:
	case <-time.After(10 * time.Second):
		t.Fatal("the follow went on after the client left")
	}
	f.hold = false
	_, body, h := get(t, c, http.MethodGet, "/v1/logs?follow=1&tail=0")
	if h.Get("Content-Type") != "application/x-ndjson" || strings.Count(body, "\n") != len(f.logs) {
		t.Errorf("follow: %s %q", h.Get("Content-Type"), body)
	}

	f.logsErr = errors.New(`no app named "x"; ` + "`cove ps`" + ` lists them`)
	for _, path := range []string{"/v1/logs?app=x", "/v1/logs?app=x&follow=1"} {
		code, body, _ := get(t, c, http.MethodGet, path)
		if code != http.StatusNotFound || !strings.Contains(body, `no app named \"x\"`) {
			t.Errorf("%s: %d %s, want 404 with the error", path, code, body)
		}
	}
	if err := c.FollowLogs(ctx, LogQuery{App: "x"}, func(LogEntry) {}); err == nil || !strings.Contains(err.Error(), `no app named "x"`) {
		t.Errorf("client's follow error: %v", err)
	}
}

func TestAPIShutdownAndMetrics(t *testing.T) {
	f := &fakeManaged{}
	c := serveAPI(t, f)
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	n := f.shutdowns
	f.mu.Unlock()
	if n != 1 {
		t.Errorf("shutdowns: %d, want 1", n)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/v1/shutdown"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/shutdown: %d, want 405", code)
	}
	code, body, _ := get(t, c, http.MethodGet, "/metrics")
	if code != http.StatusOK || body != "fake_metric 1\n" {
		t.Errorf("metrics: %d %q", code, body)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof index: %d", code)
	}
}
