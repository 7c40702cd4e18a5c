package control

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cove-env/cove/internal/supervisor"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/testaddr"
)

// The test binary doubles as the app: with COVE_TEST_APP set it serves its
// environment as JSON on $PORT (or on $COVE_TEST_FIXED_PORT).
func TestMain(m *testing.M) {
	runAsLauncher()
	if os.Getenv("COVE_TEST_APP") != "" {
		serveEnv()
		return
	}
	os.Exit(m.Run())
}

// launcherArg makes the test binary the replica launcher, as `cove
// replica-launcher` is for cove up.
const launcherArg = "control-test-launcher"

// runAsLauncher runs the launcher when the test binary was started as one.
// It comes before anything that reads the environment: the launcher has
// the replica's.
func runAsLauncher() {
	if len(os.Args) > 1 && os.Args[1] == launcherArg {
		os.Exit(supervisor.RunLauncher(os.Args[2:]))
	}
}

func serveEnv() {
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		_ = json.NewEncoder(w).Encode(env)
	})
	// COVE_TEST_FIXED_PORT plays an app with a port in its code.
	port := os.Getenv("COVE_TEST_FIXED_PORT")
	if port == "" {
		port = os.Getenv("PORT")
	}
	_ = http.ListenAndServe("127.0.0.1:"+port, nil)
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunContract runs a two-replica Dapr app in process and checks the
// environment contract each replica gets, routing through the edge, the
// status document, and that stopping leaves no process behind.
func TestRunContract(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "app.yaml", `
name: echo
properties:
  configuration:
    secrets:
      - name: token
        value: s3cret
    ingress:
      external: true
      targetPort: 8000
      allowInsecure: true
      traffic:
        - latestRevision: true
          weight: 100
          label: blue
    dapr:
      enabled: true
      appId: echo-id
      appPort: 8000
  template:
    revisionSuffix: v1
    terminationGracePeriodSeconds: 5
    containers:
      - name: echo
        image: echo:latest
        env:
          - name: PLAIN
            value: from-yaml
          - name: TOKEN
            secretRef: token
          - name: OVERRIDDEN
            value: from-yaml
    scale:
      minReplicas: 2
      maxReplicas: 2
`)
	write(t, dir, "cove.yaml", fmt.Sprintf(`
name: contract
apps:
  - file: app.yaml
    command: [%q]
    env:
      COVE_TEST_APP: "1"
      OVERRIDDEN: from-cove
components:
  - name: store
    file: store.yaml
`, exe))
	write(t, dir, "store.yaml", "componentType: state.in-memory\nversion: v1\n")

	env, err := Load(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan *Status, 1)
	var mu sync.Mutex
	var events []EventKind
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Spec:     env,
			HTTPPort: testaddr.FreePort(t),
			Events: func(ev Event) {
				mu.Lock()
				events = append(events, ev.Kind)
				mu.Unlock()
				if ev.Kind == EventReady {
					ready <- ev.Status
				}
			},
		})
	}()
	var st *Status
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready within 30s")
	}

	if len(st.Apps) != 1 || len(st.Apps[0].Replicas) != 2 || st.Apps[0].Revision != "echo--v1" {
		t.Fatalf("status: %+v", st)
	}
	// Status is safe to ask while replicas change state.
	go NewClient(env.File).Status(t.Context())

	seen := map[string]bool{}
	for range 4 {
		got := getEnv(t, st.Edge.HTTP)
		seen[got["CONTAINER_APP_REPLICA_NAME"]] = true
		var rs ReplicaStatus
		for _, r := range st.Apps[0].Replicas {
			if r.Name == got["CONTAINER_APP_REPLICA_NAME"] {
				rs = r
			}
		}
		want := map[string]string{
			"PORT":                         fmt.Sprint(rs.Port),
			"CONTAINER_APP_PORT":           fmt.Sprint(rs.Port),
			"CONTAINER_APP_NAME":           "echo",
			"CONTAINER_APP_REVISION":       "echo--v1",
			"CONTAINER_APP_ENV_DNS_SUFFIX": "localhost",
			"CONTAINER_APP_HOSTNAME":       "echo--v1.localhost",
			"APP_ID":                       "echo-id",
			"DAPR_HTTP_PORT":               fmt.Sprint(rs.DaprHTTPPort),
			"DAPR_GRPC_PORT":               fmt.Sprint(rs.DaprGRPCPort),
			"DAPR_HTTP_ENDPOINT":           fmt.Sprintf("http://127.0.0.1:%d", rs.DaprHTTPPort),
			"PLAIN":                        "from-yaml",
			"TOKEN":                        "s3cret",
			"OVERRIDDEN":                   "from-cove",
			"NO_PROXY":                     "127.0.0.1,::1",
			"HTTP_PROXY":                   "http://" + st.Edge.Internal,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("replica %s: %s = %q, want %q", rs.Name, k, got[k], v)
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("4 requests reached replicas %v, want both", seen)
	}
	// The revision and its traffic label have host names of their own.
	for _, host := range []string{"echo--v1", "echo---blue"} {
		if got := getEnvAt(t, st.Edge.HTTP, host); got["CONTAINER_APP_REVISION"] != "echo--v1" {
			t.Errorf("host %s.localhost reached revision %q, want echo--v1", host, got["CONTAINER_APP_REVISION"])
		}
	}

	// The sidecar of a replica answers and sees the in-memory store.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", st.Apps[0].Replicas[0].DaprHTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		ID         string `json:"id"`
		Components []struct{ Name, Type string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if diff := cmp.Diff("echo-id", md.ID); diff != "" || len(md.Components) != 1 || md.Components[0].Name != "store" {
		t.Errorf("sidecar metadata: %+v", md)
	}

	// A second Run of the same environment refuses to start.
	if err := Run(t.Context(), Options{Spec: env, HTTPPort: testaddr.FreePort(t)}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v, want already running", err)
	}

	cur, err := NewClient(env.File).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
	for _, r := range cur.Apps[0].Replicas {
		if r.PID == 0 || syscall.Kill(r.PID, 0) == nil && !zombie(r.PID) {
			t.Errorf("replica %s (pid %d) still running after stop", r.Name, r.PID)
		}
	}
	if _, err := os.Stat(SocketPath(env.File)); !os.IsNotExist(err) {
		t.Errorf("management socket left behind: %v", err)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func getEnv(t *testing.T, edge string) map[string]string {
	t.Helper()
	return getEnvAt(t, edge, "echo")
}

// getEnvAt asks the replica behind <name>.localhost for its environment.
func getEnvAt(t *testing.T, edge, name string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+edge+"/env", nil)
	req.Host = name + ".localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("edge answered %s: %v", resp.Status, err)
	}
	return env
}
