package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// TestContainerAppOps drives a running environment with the operational
// verbs of az containerapp: exec, logs show, and the revision verbs
// (deactivate, activate, label, restart, set-mode), then restarts cove to
// see a revision keep its createdTime.
func TestContainerAppOps(t *testing.T) {
	file := smallEnv(t, "ops", smallApp{name: "web", mode: "http"})
	writeFile(t, filepath.Dir(file), "web.yaml", `name: web
properties:
  configuration:
    activeRevisionsMode: Multiple
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
  template:
    revisionSuffix: v1
    containers: [{name: main, image: x}]
    scale: {minReplicas: 1, maxReplicas: 1}
`)
	e := up(t, file)

	t.Run("completion of --revision", func(t *testing.T) {
		out, err := exec.Command(coveBin, "__complete", "containerapp", "exec", "-f", e.file, "-n", "web", "--revision", "").Output()
		if err != nil || !strings.HasPrefix(string(out), "web--v1\n:4\n") {
			t.Errorf("completion of --revision: %v\n%s", err, out)
		}
	})

	t.Run("exec", func(t *testing.T) {
		out, err := e.cove("containerapp", "exec", "-n", "web", "-g", "rg", "--command", "sh -c 'echo $CONTAINER_APP_NAME $CONTAINER_APP_REVISION'")
		if err != nil || out != "web web--v1\n" {
			t.Errorf("exec = %q, %v", out, err)
		}
		_, err = e.cove("containerapp", "exec", "-n", "web", "--command", "sh -c 'exit 7'")
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Errorf("exec of a command that exits 7: %v", err)
		}
		_, err = e.cove("containerapp", "exec", "-n", "web", "--container", "nope", "--command", "true")
		if err == nil || !strings.Contains(err.Error(), `runs no container "nope"; it runs: main`) {
			t.Errorf("exec --container nope: %v", err)
		}
	})

	t.Run("logs show", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/logged", e.httpPort), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "web.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := e.cove("containerapp", "logs", "show", "-n", "web", "--tail", "100", "--container", "main")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var l map[string]string
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("logs show prints a line that is not a JSON object: %q (%v)", line, err)
				}
				if l["Log"] == "request /logged" {
					found = true
					if l["ContainerAppName"] != "web" || l["RevisionName"] != "web--v1" || l["ReplicaName"] != "web--v1-0" ||
						l["ContainerName"] != "main" || l["Stream"] != "stdout" || l["TimeStamp"] == "" {
						t.Errorf("logs show line: %v", l)
					}
				}
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("logs show has no line of the request:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		out, err := e.cove("containerapp", "logs", "show", "-n", "web", "--tail", "100", "--format", "text")
		if err != nil || !strings.Contains(out, "web--v1-0") || !strings.Contains(out, "request /logged") {
			t.Errorf("logs show --format text = %q, %v", out, err)
		}
	})

	// show runs a read verb with a query and returns its tsv output.
	show := func(args ...string) string {
		t.Helper()
		out, err := e.cove(append(args, "-o", "tsv")...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	// waitShow polls show until it prints want.
	waitShow := func(want string, args ...string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got := show(args...)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cove %s prints %q, want %q", strings.Join(args, " "), got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// answer is what the edge answers for host (the revision serving it).
	answer := func(host string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", e.httpPort), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	v1Created := show("containerapp", "revision", "show", "-n", "web", "--revision", "web--v1", "--query", "properties.createdTime")
	if _, err := time.Parse(time.RFC3339, v1Created); err != nil {
		t.Fatalf("createdTime %q: %v", v1Created, err)
	}

	t.Run("revision deactivate, activate, label", func(t *testing.T) {
		if _, err := e.cove("containerapp", "update", "-n", "web", "--revision-suffix", "v2", "-o", "none"); err != nil {
			t.Fatal(err)
		}
		// v1 no longer has traffic: it stops and stays listed, inactive.
		waitShow("False\nProvisioned\nStopped", "containerapp", "revision", "show", "-n", "web", "--revision", "web--v1",
			"--query", "[properties.active, properties.provisioningState, properties.runningState]")
		if got := show("containerapp", "revision", "list", "-n", "web", "--query", "[].name"); got != "web--v2" {
			t.Errorf("active revisions: %q", got)
		}
		if _, err := e.cove("containerapp", "revision", "activate", "-n", "web", "--revision", "web--v1"); err != nil {
			t.Fatal(err)
		}
		if got := show("containerapp", "revision", "list", "-n", "web", "--query", "[].[name, properties.runningState, properties.trafficWeight]"); got != "web--v2\tRunning\t100\nweb--v1\tRunning\t0" {
			t.Errorf("after activate: %q", got)
		}
		if got := show("containerapp", "revision", "show", "-n", "web", "--revision", "web--v1", "--query", "properties.createdTime"); got != v1Created {
			t.Errorf("activated revision's createdTime %q, want %q", got, v1Created)
		}
		if got := answer("web--v1.localhost"); got != "web--v1" {
			t.Errorf("web--v1.localhost answers %q", got)
		}
		if _, err := e.cove("containerapp", "revision", "label", "add", "-n", "web", "--label", "blue", "--revision", "web--v1", "-o", "none"); err != nil {
			t.Fatal(err)
		}
		if got := answer("web---blue.localhost"); got != "web--v1" {
			t.Errorf("web---blue.localhost answers %q", got)
		}
		_, err := e.cove("containerapp", "revision", "deactivate", "-n", "web", "--revision", "web--v1")
		if err == nil || !strings.Contains(err.Error(), "labels [blue]") {
			t.Errorf("deactivate of a labelled revision: %v", err)
		}
		if _, err := e.cove("containerapp", "revision", "label", "remove", "-n", "web", "--label", "blue", "-o", "none"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cove("containerapp", "revision", "deactivate", "-n", "web", "--revision", "web--v1"); err != nil {
			t.Fatal(err)
		}
		waitShow("False\nProvisioned", "containerapp", "revision", "show", "-n", "web", "--revision", "web--v1",
			"--query", "[properties.active, properties.provisioningState]")
	})

	t.Run("revision restart", func(t *testing.T) {
		pid := func() int {
			for _, a := range e.status().Apps {
				for _, r := range a.Replicas {
					if r.Revision == "web--v2" && r.Ready {
						return r.PID
					}
				}
			}
			return 0
		}
		before := pid()
		if _, err := e.cove("containerapp", "revision", "restart", "-n", "web", "--revision", "web--v2"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for p := pid(); p == before || p == 0; p = pid() {
			if time.Now().After(deadline) {
				t.Fatalf("replica of web--v2 still pid %d (was %d)", p, before)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := answer("web.localhost"); got != "web--v2" {
			t.Errorf("after the restart web.localhost answers %q", got)
		}
	})

	t.Run("revision set-mode", func(t *testing.T) {
		if got := show("containerapp", "revision", "set-mode", "-n", "web", "--mode", "single"); got != "Single" {
			t.Errorf("set-mode prints %q", got)
		}
	})

	// The file's template is v2's now: a new cove up starts it again with
	// the time it was first created. It serves the management API over
	// TCP too, where the CLI needs the token.
	v2Created := show("containerapp", "revision", "show", "-n", "web", "--revision", "web--v2", "--query", "properties.createdTime")
	e.stop()
	apiPort := testaddr.FreePort(t)
	e = start(t, "", file, "up", "-f", file, "--api-port", fmt.Sprint(apiPort))
	e.waitFor("is ready", time.Minute)
	if got := show("containerapp", "revision", "show", "-n", "web", "--revision", "web--v2", "--query", "properties.createdTime"); got != v2Created {
		t.Errorf("after a restart web--v2's createdTime is %q, was %q", got, v2Created)
	}
	tokenFile := filepath.Join(filepath.Dir(file), ".cove", "api-token")
	e.waitFor("bearer token in "+tokenFile, time.Minute)
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	run := func(env ...string) (string, error) {
		cmd := exec.Command(coveBin, "containerapp", "show", "-n", "web", "--query", "name", "-o", "tsv")
		cmd.Dir = t.TempDir() // no cove.yaml around: only the URL says where
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("COVE_API_URL="+url, "COVE_API_TOKEN="+strings.TrimSpace(string(token))); err != nil || out != "web\n" {
		t.Errorf("containerapp show over TCP: %q, %v", out, err)
	}
	if out, err := run("COVE_API_URL="+url, "COVE_API_TOKEN=nope"); err == nil || !strings.Contains(out, "(AuthenticationFailed)") {
		t.Errorf("containerapp show over TCP with another token: %q, %v", out, err)
	}
}
