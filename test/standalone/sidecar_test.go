package standalone

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
	"github.com/cove-env/cove/test/internal/testenv"
)

// coveBin is the binary under test, built once in TestMain.
var coveBin string

func TestMain(m *testing.M) {
	if os.Getenv("COVE_STANDALONE_APP") == "where" {
		os.Exit(runWhereApp())
	}
	bin, cleanup, err := testenv.BuildCove("cove-standalone-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	coveBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// startApp serves an app that answers every call with who it is, who
// called and what it got.
func startApp(t *testing.T, name string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"app": name, "path": r.URL.Path, "caller": r.Header.Get("dapr-caller-app-id"), "body": string(b),
		})
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// shared is what sidecars that call each other share: the CA, the name
// resolution Configuration (a 1s heartbeat, so a crash expires in 3s) and
// the resources directory.
type shared struct {
	dir, config, resources string
}

func newShared(t *testing.T) shared {
	dir := t.TempDir()
	s := shared{dir: dir, config: filepath.Join(dir, "config.yaml"), resources: filepath.Join(dir, "components")}
	cfg := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
spec:
  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: %q
      updateInterval: 1s
`, filepath.Join(dir, "nr.db"))
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.resources, 0o755); err != nil {
		t.Fatal(err)
	}
	store := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: %q
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: ignored
spec:
  topic: t
  route: /t
  pubsubname: p
`, filepath.Join(dir, "state.db"))
	if err := os.WriteFile(filepath.Join(s.resources, "statestore.yaml"), []byte(store), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// proc is one running `cove sidecar`.
type proc struct {
	cmd                *exec.Cmd
	stderr             *testlog.Buffer
	httpPort, grpcPort int
	exited             chan struct{}
}

func (s shared) sidecar(t *testing.T, appID string, appPort int, extra ...string) *proc {
	t.Helper()
	p := &proc{stderr: &testlog.Buffer{}, httpPort: testaddr.FreePort(t), grpcPort: testaddr.FreePort(t), exited: make(chan struct{})}
	p.cmd = exec.Command(coveBin, append([]string{"sidecar",
		"--app-id", appID, "--app-port", strconv.Itoa(appPort),
		"--dapr-http-port", strconv.Itoa(p.httpPort), "--dapr-grpc-port", strconv.Itoa(p.grpcPort),
		"--dapr-listen-addresses", "127.0.0.1", "--resources-path", s.resources, "--config", s.config,
		"--ca-dir", filepath.Join(s.dir, "ca"), "--log-level", "debug"}, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s sidecar output:\n%s", appID, p.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz/outbound", p.httpPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s sidecar exited: %s", appID, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sidecar not ready: %s", appID, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("sidecar did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM: %s", code, p.stderr.String())
	}
}

// curlInvoke invokes appID through p's HTTP API with curl.
func curlInvoke(t *testing.T, p *proc, appID, method, body string) (status int, out string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "curl", "-sS", "-X", "POST", "-d", body, "-w", "\n%{http_code}",
		fmt.Sprintf("http://127.0.0.1:%d/v1.0/invoke/%s/method/%s", p.httpPort, appID, method))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	s := string(b)
	i := strings.LastIndex(s, "\n")
	status, _ = strconv.Atoi(s[i+1:])
	return status, s[:i]
}

func TestSidecarProcesses(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	s := newShared(t)
	alpha := s.sidecar(t, "alpha", startApp(t, "alpha"))
	beta := s.sidecar(t, "beta", startApp(t, "beta"))

	t.Run("curl through alpha reaches beta's app as alpha", func(t *testing.T) {
		status, out := curlInvoke(t, alpha, "beta", "orders", "one")
		want := `{"app":"beta","body":"one","caller":"alpha","path":"/orders"}`
		if status != 200 || strings.TrimSpace(out) != want {
			t.Errorf("status %d, body %s; want 200 %s", status, out, want)
		}
	})

	t.Run("the Go SDK through beta reaches alpha's app", func(t *testing.T) {
		c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", beta.grpcPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		out, err := c.InvokeMethodWithContent(t.Context(), "alpha", "sdk", "post",
			&dapr.DataContent{ContentType: "text/plain", Data: []byte("two")})
		want := `{"app":"alpha","body":"two","caller":"beta","path":"/sdk"}`
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("InvokeMethodWithContent = %s, %v; want %s", out, err, want)
		}
		// The resources path's state store is loaded (the Subscription in
		// the same file is skipped).
		if err := c.SaveState(t.Context(), "statestore", "k", []byte("v"), nil); err != nil {
			t.Fatalf("SaveState: %v", err)
		}
		item, err := c.GetState(t.Context(), "statestore", "k", nil)
		if err != nil || string(item.Value) != "v" {
			t.Errorf("GetState = %q, %v", item.Value, err)
		}
	})

	t.Run("the version set at build is the one cove and its sidecars report", func(t *testing.T) {
		want := "cove " + testenv.Version + " (Dapr API "
		for _, args := range [][]string{{"version"}, {"--version"}} {
			out, err := exec.CommandContext(t.Context(), coveBin, args...).Output()
			if err != nil || !strings.HasPrefix(string(out), want) {
				t.Errorf("cove %s = %q, %v; want %q…", args[0], out, err, want)
			}
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", alpha.httpPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md struct {
			RuntimeVersion string            `json:"runtimeVersion"`
			Extended       map[string]string `json:"extended"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		if md.RuntimeVersion != testenv.Version || md.Extended["daprRuntimeVersion"] != testenv.Version {
			t.Errorf("metadata runtimeVersion %q, extended daprRuntimeVersion %q; want %s", md.RuntimeVersion, md.Extended["daprRuntimeVersion"], testenv.Version)
		}
	})

	t.Run("a clean exit is removed from resolution at once", func(t *testing.T) {
		beta.stop(t)
		status, out := curlInvoke(t, alpha, "beta", "orders", "three")
		if status != 500 || !strings.Contains(out, "couldn't find service") {
			t.Errorf("status %d, body %s; want 500 couldn't find service", status, out)
		}
	})

	t.Run("a crashed sidecar expires after the TTL", func(t *testing.T) {
		gamma := s.sidecar(t, "gamma", startApp(t, "gamma"))
		if status, out := curlInvoke(t, alpha, "gamma", "x", "four"); status != 200 {
			t.Fatalf("before the crash: %d %s", status, out)
		}
		_ = gamma.cmd.Process.Kill()
		<-gamma.exited
		killed := time.Now()
		status, out := curlInvoke(t, alpha, "gamma", "x", "five")
		if status != 500 || strings.Contains(out, "couldn't find service") {
			t.Errorf("right after the crash: %d %s; want a failed call to the registered address", status, out)
		}
		deadline := killed.Add(10 * time.Second)
		for {
			status, out = curlInvoke(t, alpha, "gamma", "x", "six")
			if strings.Contains(out, "couldn't find service") {
				if since := time.Since(killed); since < 2*time.Second {
					t.Errorf("expired %v after the crash, before the 3s TTL", since)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still resolvable 10s after the crash: %d %s", status, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("the shutdown API stops the sidecar cleanly", func(t *testing.T) {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1.0/shutdown", alpha.httpPort), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("shutdown: %s", resp.Status)
		}
		select {
		case <-alpha.exited:
		case <-time.After(15 * time.Second):
			t.Fatal("sidecar still running after POST /v1.0/shutdown")
		}
		if code := alpha.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d", code)
		}
	})
}

func TestBadComponentFileNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken\nspec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  - name: connectionString\n    vaule: x.db\n"
	file := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), coveBin, "sidecar", "--app-id", "a", "--resources-path", dir,
		"--dapr-listen-addresses", "127.0.0.1", "--dapr-http-port", "0", "--dapr-grpc-port", "0",
		"--ca-dir", filepath.Join(dir, "ca"), "--name-resolution-file", filepath.Join(dir, "nr.db"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("started with a bad component file: %s", out)
	}
	if !strings.Contains(string(out), file+":10") || !strings.Contains(string(out), "vaule") {
		t.Errorf("output does not name %s:10 and the field:\n%s", file, out)
	}
}

// TestComponentKindsNotRunYet checks that `cove sidecar` agrees with `cove
// validate` and `cove up`: a Kafka pub/sub component stops the start, named with
// its file and line, unless it says ignoreErrors; then the sidecar serves
// without it.
func TestComponentKindsNotRunYet(t *testing.T) {
	s := newShared(t)
	pubsub := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.kafka\n  version: v1\n  metadata:\n  - name: brokers\n    value: localhost:9092\n"
	file := filepath.Join(s.resources, "pubsub.yaml")
	if err := os.WriteFile(file, []byte(pubsub), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sidecar that starts anyway is stopped after a while, so the test
	// fails instead of hanging.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, coveBin, "sidecar", "--app-id", "a", "--resources-path", s.resources, "--config", s.config,
		"--dapr-listen-addresses", "127.0.0.1", "--dapr-http-port", "0", "--dapr-grpc-port", "0", "--ca-dir", filepath.Join(s.dir, "ca"))
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("started with a pub/sub component and no ignoreErrors: %s", out)
	}
	if want := file + `:6:3: spec.type: component type "pubsub.kafka" is not supported yet by cove`; !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}

	if err := os.WriteFile(file, []byte(strings.Replace(pubsub, "  version: v1\n", "  version: v1\n  ignoreErrors: true\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := s.sidecar(t, "a", startApp(t, "a"))
	if out := p.stderr.String(); !strings.Contains(out, "not supported yet by cove") {
		t.Errorf("no warning about the skipped component:\n%s", out)
	}
	p.stop(t)
}
