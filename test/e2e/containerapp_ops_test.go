package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContainerAppOps drives a running environment with the operational
// verbs of az containerapp: exec and logs show.
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
}
