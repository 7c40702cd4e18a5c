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
// frontend and backend without Dapr, no components; network is the apps'
// network setting, or "".
func workshopEnv(network string) string {
	return `name: triage
apps:
  - file: backend/containerapp.yaml # the API
    build: go build -o .cove/bin/triage-backend ./backend
    command: .cove/bin/triage-backend
    env: {HOST: 127.0.0.1}` + network + `
  - file: frontend/containerapp.yaml
    build: go build -o .cove/bin/triage-frontend ./frontend
    command: .cove/bin/triage-frontend
    env: {HOST: 127.0.0.1}` + network + `
`
}

// TestWorkshopDapr runs the workshop's lesson 8 (multi-container apps and
// Dapr) with cove in place of az against a running environment: create the
// Redis app, enable Dapr on both apps, set the state store from a file,
// invoke the backend through exec, write and read state, list the
// components; then its verification list, across a restart of cove.
func TestWorkshopDapr(t *testing.T) {
	// A process replica's sidecar is at $DAPR_HTTP_PORT.
	workshop(t, "", func(script string) string {
		return "sh -c '" + strings.ReplaceAll(script, "localhost:3500", "localhost:$DAPR_HTTP_PORT") + "'"
	})
}

// TestWorkshopDaprAsWritten is TestWorkshopDapr with the apps in network
// namespaces of their own, where each replica's sidecar is at
// localhost:3500 as in ACA: the workshop's exec commands run as written.
func TestWorkshopDaprAsWritten(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("this test runs network namespaces as root; TestNetworkNamespacesWithoutRoot runs them as another user")
	}
	workshop(t, "\n    network: namespace", func(script string) string { return script })
}

// workshop runs the lesson with the apps' network setting; command makes
// an exec command of one of the workshop's (which call localhost:3500).
func workshop(t *testing.T, network string, command func(script string) string) {
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
	writeFile(t, dir, "cove.yaml", workshopEnv(network))
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
	invoke := func(e *env) {
		t.Helper()
		out := az(e, "containerapp", "exec", "--name", "triage-frontend", "--resource-group", "rg",
			"--command", command("curl -s http://localhost:3500/v1.0/invoke/triage-backend/method/api/health"))
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
		command(`curl -s -X POST http://localhost:3500/v1.0/state/statestore -H Content-Type:application/json -d "[{\"key\":\"patient-001\",\"value\":{\"name\":\"Jane Doe\",\"urgency\":\"High\"}}]"`))
	read := func(e *env) {
		t.Helper()
		out := az(e, "containerapp", "exec", "--name", "triage-backend", "--resource-group", "rg",
			"--command", command("curl -s http://localhost:3500/v1.0/state/statestore/patient-001"))
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

// TestContainerAppSecretsAndIngressVerbs changes an app's secrets and its
// ingress policies with az's verbs: each is written to the app's file and
// what the edge and the replicas do follows.
func TestContainerAppSecretsAndIngressVerbs(t *testing.T) {
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	e := up(t, file)
	az := func(args ...string) string {
		t.Helper()
		out, err := e.cove(append([]string{"containerapp"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	az("secret", "set", "-n", "triage-backend", "--secrets", "api-token=s3cret", "db=hunter2", "-o", "none")
	if out := az("secret", "list", "-n", "triage-backend", "-o", "tsv"); out != "api-token\ndb\n" {
		t.Errorf("secret list: %q", out)
	}
	if out := az("secret", "show", "-n", "triage-backend", "--secret-name", "db", "--query", "value", "-o", "tsv"); out != "hunter2\n" {
		t.Errorf("secret show: %q", out)
	}
	az("update", "-n", "triage-backend", "--set-env-vars", "TOKEN=secretref:api-token", "-o", "none")
	if out, err := e.cove("exec", "triage-backend", "--", "sh", "-c", "echo $TOKEN"); err != nil || out != "s3cret\n" {
		t.Errorf("the secret in the replica: %q, %v", out, err)
	}
	// A secret in use cannot go; one not in use can.
	if _, err := e.cove("containerapp", "secret", "remove", "-n", "triage-backend", "--secret-names", "api-token"); err == nil || !strings.Contains(err.Error(), "api-token") {
		t.Errorf("removing a secret in use: %v", err)
	}
	az("secret", "remove", "-n", "triage-backend", "--secret-names", "db", "-o", "none")
	if out := az("secret", "list", "-n", "triage-backend", "--show-values", "-o", "tsv"); out != "api-token\ts3cret\n" {
		t.Errorf("secrets after remove: %q", out)
	}

	// IP rules: a Deny of loopback closes the edge to this test.
	az("ingress", "access-restriction", "set", "-n", "triage-frontend", "--rule-name", "local", "--ip-address", "127.0.0.0/8", "--action", "Deny", "-o", "none")
	if code, _ := e.edge(t, http.MethodGet, "triage-frontend", "/", ""); code != http.StatusForbidden {
		t.Errorf("with loopback denied: %d, want 403", code)
	}
	if out := az("ingress", "access-restriction", "list", "-n", "triage-frontend", "--query", "[].name", "-o", "tsv"); out != "local\n" {
		t.Errorf("access-restriction list: %q", out)
	}
	az("ingress", "access-restriction", "remove", "-n", "triage-frontend", "--rule-name", "local", "-o", "none")
	if code, _ := e.edge(t, http.MethodGet, "triage-frontend", "/", ""); code != http.StatusOK {
		t.Errorf("with the rule removed: %d, want 200", code)
	}

	// CORS: the edge answers preflights from the allowed origins.
	az("ingress", "cors", "enable", "-n", "triage-frontend", "--allowed-origins", "https://a.example", "https://b.example", "--allowed-methods", "GET", "POST", "-o", "none")
	az("ingress", "cors", "update", "-n", "triage-frontend", "--max-age", "600", "-o", "none")
	preflight := func() http.Header {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, fmt.Sprintf("http://127.0.0.1:%d/api/patients", e.httpPort), nil)
		req.Host = "triage-frontend.localhost"
		req.Header.Set("Origin", "https://b.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := preflight(); h.Get("Access-Control-Allow-Origin") != "https://b.example" || h.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight with CORS: %v", h)
	}
	az("ingress", "cors", "disable", "-n", "triage-frontend", "-o", "none")
	if out := az("ingress", "cors", "show", "-n", "triage-frontend"); strings.TrimSpace(out) != "{}" {
		t.Errorf("cors show after disable: %q", out)
	}
	if h := preflight(); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without CORS: %v", h)
	}

	az("ingress", "sticky-sessions", "set", "-n", "triage-frontend", "--affinity", "sticky", "-o", "none")
	if out := az("ingress", "sticky-sessions", "show", "-n", "triage-frontend", "-o", "tsv"); out != "sticky\n" {
		t.Errorf("sticky-sessions show: %q", out)
	}
	if out := az("ingress", "traffic", "set", "-n", "triage-frontend", "--revision-weight", "latest=100", "--query", "[].[latestRevision, weight]", "-o", "tsv"); out != "True\t100\n" {
		t.Errorf("traffic set: %q", out)
	}
	if _, err := e.cove("containerapp", "ingress", "traffic", "set", "-n", "triage-frontend", "--revision-weight", "latest=50"); err == nil || !strings.Contains(err.Error(), "add up to 50") {
		t.Errorf("weights that do not add up: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "frontend", "containerapp.yaml"))
	if err != nil || !strings.Contains(string(data), "affinity: sticky") || !strings.Contains(string(data), "latestRevision: true") {
		t.Errorf("the frontend's file (%v):\n%s", err, data)
	}
}
