package control

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podProcessApp is an app with an init container and a second container.
const podProcessApp = `
name: pod
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
  template:
    initContainers: [{name: migrate, image: m, env: [{name: STEP, value: migrate}]}]
    containers:
      - {name: web, image: w, env: [{name: ROLE, value: web}]}
      - {name: logger, image: l, env: [{name: ROLE, value: logger}]}
    scale: {minReplicas: 1, maxReplicas: 1}
`

// TestProcessContainers runs an app's init container and both its
// containers as processes, each with its command, directory and
// environment from cove.yaml and the template; beside it an app whose init
// container fails is reported failed without holding the start, its
// containers never started.
func TestProcessContainers(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := runEnvWith(t, dir, map[string]string{
		"pod.yaml":    podProcessApp,
		"broken.yaml": strings.ReplaceAll(podProcessApp, "name: pod", "name: broken"),
		"cove.yaml": fmt.Sprintf(`apps:
  - file: pod.yaml
    env: {SHARED: all}
    containers:
      migrate: {command: 'echo "$STEP" > migrated'}
      web: {command: [%q], env: {COVE_TEST_EDGE_APP: http, COVE_TEST_WAIT_FOR: migrated}}
      logger: {command: 'echo "logger up $ROLE $SHARED $CONTAINER_APP_NAME" > logger.out; echo logger says hi; exec sleep 60', dir: logs}
  - file: broken.yaml
    containers:
      migrate: {command: 'echo migration failed; exit 3'}
      web: {command: 'touch web-started; exec sleep 60'}
      logger: {command: 'touch logger-started; exec sleep 60'}
`, exe),
	}, Options{})

	env := getEnvAt(t, st.Edge.HTTP, "pod")
	if env["ROLE"] != "web" || env["SHARED"] != "all" || env["STEP"] != "" || env["CONTAINER_APP_NAME"] != "pod" {
		t.Errorf("web's environment: ROLE %q, SHARED %q, STEP %q, CONTAINER_APP_NAME %q; want its own, the app's and the contract",
			env["ROLE"], env["SHARED"], env["STEP"], env["CONTAINER_APP_NAME"])
	}
	if b, err := os.ReadFile(filepath.Join(dir, "migrated")); err != nil || string(b) != "migrate\n" {
		t.Errorf("init container's file: %q, %v", b, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "logs", "logger.out"))
		if string(b) == "logger up logger all pod\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logger's output in its directory: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// cove exec --container runs beside a container with its environment;
	// cove logs --container keeps that container's lines.
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	var replica string
	for _, a := range st.Apps {
		if a.Name == "pod" && len(a.Replicas) == 1 {
			replica = a.Replicas[0].Name
		}
	}
	re, err := client.ReplicaEnv(t.Context(), replica)
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, p := range re.Processes {
		procs = append(procs, p.Name+":"+envValue(p.Env, "ROLE")+":"+filepath.Base(p.Dir))
	}
	if re.Container != "web" || envValue(re.Env, "ROLE") != "web" || strings.Join(procs, " ") != "web:web:"+filepath.Base(dir)+" logger:logger:logs" {
		t.Errorf("replica env: container %q, ROLE %q, processes %q", re.Container, envValue(re.Env, "ROLE"), procs)
	}
	for {
		lines, err := client.Logs(t.Context(), LogQuery{App: "pod", Container: "logger"})
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) > 0 {
			if lines[0].Container != "logger" || lines[0].Text != "logger: logger says hi" {
				t.Errorf("logger's lines: %+v", lines)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no line of container logger")
		}
		time.Sleep(20 * time.Millisecond)
	}
	web, err := client.Logs(t.Context(), LogQuery{App: "pod", Container: "web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range web {
		if l.Container != "web" || strings.HasPrefix(l.Text, "logger:") {
			t.Errorf("a line of web's: %+v", l)
		}
	}

	problems := map[string]string{}
	for _, a := range st.Apps {
		problems[a.Name] = a.Problem
		if a.Name == "broken" && (len(a.Replicas) != 1 || a.Replicas[0].State != "Failed") {
			t.Errorf("broken's replicas: %+v, want one failed", a.Replicas)
		}
	}
	if problems["pod"] != "" || !strings.Contains(problems["broken"], "init container migrate: exit status 3") {
		t.Errorf("problems: %q", problems)
	}
	for _, f := range []string{"web-started", "logger-started"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: a container ran after its init container failed", f)
		}
	}
}
