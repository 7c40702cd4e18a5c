package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// workshopEnv is the triage example as the workshop's lesson 8 starts: the
// frontend and backend without Dapr, no components.
const workshopEnv = `name: triage
apps:
  - file: backend/containerapp.yaml # the API
    build: go build -o .cove/bin/triage-backend ./backend
    command: .cove/bin/triage-backend
    env: {HOST: 127.0.0.1}
  - file: frontend/containerapp.yaml
    build: go build -o .cove/bin/triage-frontend ./frontend
    command: .cove/bin/triage-frontend
    env: {HOST: 127.0.0.1}
`

// TestWorkshopDapr runs the workshop's lesson 8 (multi-container apps and
// Dapr) with cove in place of az against a running environment: create the
// Redis app, enable Dapr on both apps, set the state store from a file,
// invoke the backend through exec, write and read state, list the
// components; then its verification list, across a restart of cove.
func TestWorkshopDapr(t *testing.T) {
	dir := copyExample(t, "triage")
	daprBlock := regexp.MustCompile(`(?m)^    dapr:\n(^      .*\n)+`)
	for _, app := range []string{"backend", "frontend"} {
		path := filepath.Join(dir, app, "containerapp.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, filepath.Join(app, "containerapp.yaml"), daprBlock.ReplaceAllString(string(data), ""))
	}
	writeFile(t, dir, "cove.yaml", workshopEnv)
	file := filepath.Join(dir, "cove.yaml")
	e := up(t, file)
	az := func(e *env, args ...string) string {
		t.Helper()
		out, err := e.cove(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// show -o yaml is accepted back by create --yaml; delete takes it away.
	shown := az(e, "containerapp", "show", "-n", "triage-backend", "-o", "yaml")
	if _, err := e.coveIn(shown, "containerapp", "create", "-n", "backend-copy", "--yaml", "-",
		"--local-command", ".cove/bin/triage-backend", "--min-replicas", "9", "-o", "none"); err != nil {
		t.Fatal(err)
	}
	if out := az(e, "containerapp", "show", "-n", "backend-copy", "--query",
		"[properties.configuration.ingress.fqdn, properties.template.scale.minReplicas, properties.runningStatus]", "-o", "tsv"); out != "backend-copy.internal.localhost\n2\nRunning\n" {
		t.Errorf("the copy of triage-backend: %q", out)
	}
	if code, body := e.edge(t, http.MethodGet, "triage-frontend", "/api/health", ""); code != http.StatusOK {
		t.Errorf("frontend while the copy runs: %d %s", code, body)
	}
	az(e, "containerapp", "delete", "-n", "backend-copy", "--yes")
	if out := az(e, "containerapp", "list", "--query", "[].name", "-o", "tsv"); out != "triage-backend\ntriage-frontend\n" {
		t.Errorf("apps after the copy was deleted: %q", out)
	}

	// Step 1: a Redis container app (here the local redis-server).
	_, noRedis := exec.LookPath("redis-server")
	if noRedis == nil {
		az(e, "containerapp", "create", "--name", "redis", "--resource-group", "rg", "--environment", "triage",
			"--image", "docker.io/redis:7-alpine", "--target-port", "6379", "--ingress", "internal", "--transport", "tcp",
			"--min-replicas", "1", "--max-replicas", "1", "--cpu", "0.25", "--memory", "0.5Gi",
			"--local-command", "redis-server --port $PORT --save '' --appendonly no", "-o", "none")
		if host := az(e, "containerapp", "show", "--name", "redis", "--resource-group", "rg",
			"--query", "properties.configuration.ingress.fqdn", "-o", "tsv"); host != "redis.internal.localhost\n" {
			t.Errorf("Redis FQDN: %q", host)
		}
	} else {
		t.Log("no redis-server here: the workshop's Redis app is left out; the state store is the machine's Redis")
	}

	// Steps 2 and 3: Dapr on both apps.
	az(e, "containerapp", "dapr", "enable", "--name", "triage-backend", "--resource-group", "rg",
		"--dapr-app-id", "triage-backend", "--dapr-app-port", "8000", "--dapr-app-protocol", "http")
	az(e, "containerapp", "dapr", "enable", "--name", "triage-frontend", "--resource-group", "rg",
		"--dapr-app-id", "triage-frontend", "--dapr-app-port", "80", "--dapr-app-protocol", "http")

	// Step 4: the state store from a file. cove's components run in its
	// own process, which reaches Redis at localhost:6379 (the machine's, in
	// CI); the key prefix keeps this test's keys apart.
	prefix := fmt.Sprintf("workshop-%d", time.Now().UnixNano())
	store := filepath.Join(t.TempDir(), "statestore.yaml")
	if err := os.WriteFile(store, []byte(`componentType: state.redis
version: v1
metadata:
  - name: redisHost
    value: "localhost:6379"
  - name: enableTLS
    value: "false"
  - name: keyPrefix
    value: "`+prefix+`"
scopes:
  - triage-backend
`), 0o644); err != nil {
		t.Fatal(err)
	}
	az(e, "env", "dapr-component", "set", "--name", "triage", "--resource-group", "rg",
		"--dapr-component-name", "statestore", "--yaml", store, "-o", "none")

	// Step 5: invoke the backend's health through the frontend's sidecar.
	// A process replica's sidecar is at $DAPR_HTTP_PORT, not 3500.
	invoke := func(e *env) {
		t.Helper()
		out := az(e, "containerapp", "exec", "--name", "triage-frontend", "--resource-group", "rg",
			"--command", "sh -c 'curl -s http://localhost:$DAPR_HTTP_PORT/v1.0/invoke/triage-backend/method/api/health'")
		var health map[string]string
		if err := json.Unmarshal([]byte(out), &health); err != nil || health["status"] != "healthy" || health["storage"] != "dapr" {
			t.Errorf("health through Dapr invocation: %q (%v)", out, err)
		}
	}
	invoke(e)

	// Step 6: a patient saved through the frontend is there on every read,
	// whichever of the backend's two replicas answers.
	if code, body := e.edge(t, http.MethodPost, "triage-frontend", "/api/patients", `{"name": "John Roe", "urgency": "Low"}`); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("submit a patient: %d %s", code, body)
	}
	for range 4 {
		if code, body := e.edge(t, http.MethodGet, "triage-frontend", "/api/patients", ""); code != http.StatusOK || !strings.Contains(body, "John Roe") {
			t.Errorf("patients: %d %s", code, body)
		}
	}

	// Step 7: state through the Dapr API.
	az(e, "containerapp", "exec", "--name", "triage-backend", "--resource-group", "rg", "--command",
		`sh -c 'curl -s -X POST http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore -H Content-Type:application/json -d "[{\"key\":\"patient-001\",\"value\":{\"name\":\"Jane Doe\",\"urgency\":\"High\"}}]"'`)
	read := func(e *env) {
		t.Helper()
		out := az(e, "containerapp", "exec", "--name", "triage-backend", "--resource-group", "rg",
			"--command", "sh -c 'curl -s http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore/patient-001'")
		if out != `{"name":"Jane Doe","urgency":"High"}` {
			t.Errorf("state read: %q", out)
		}
	}
	read(e)

	// Step 8 and the verification list.
	verify := func(e *env) {
		t.Helper()
		out := az(e, "env", "dapr-component", "list", "--name", "triage", "--resource-group", "rg", "-o", "table")
		if !regexp.MustCompile(`(?m)^statestore\s+state\.redis\s+v1\s+False\s+triage-backend\s*$`).MatchString(out) {
			t.Errorf("dapr-component list -o table:\n%s", out)
		}
		out = az(e, "containerapp", "show", "--name", "triage-backend", "--resource-group", "rg", "--query", "properties.configuration.dapr")
		var dapr map[string]any
		if err := json.Unmarshal([]byte(out), &dapr); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if diff := cmp.Diff(map[string]any{"enabled": true, "appId": "triage-backend", "appPort": 8000.0, "appProtocol": "http"}, dapr); diff != "" {
			t.Errorf("triage-backend's dapr (-want +got):\n%s", diff)
		}
		invoke(e)
		read(e)
		if noRedis == nil {
			if out := az(e, "containerapp", "replica", "list", "-n", "redis", "--query", "[].properties.runningState", "-o", "tsv"); out != "Running\n" {
				t.Errorf("redis replicas: %q", out)
			}
		}
	}
	verify(e)

	// Everything is in the files: a restart of cove runs it all again.
	az(e, "down")
	select {
	case <-e.done:
	case <-time.After(time.Minute):
		t.Fatal("cove up did not stop after cove down")
	}
	verify(up(t, file))
	data, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(data), "# the API") || !strings.Contains(string(data), "file: statestore.component.yaml") {
		t.Errorf("cove.yaml after the workshop (%v):\n%s", err, data)
	}
}
