package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/engine"
	"github.com/cove-env/cove/test/internal/testenv"
)

// testImages are the images of testdata/containerapp, built once per
// engine.
var testImages sync.Map // engine name → *testImage

type testImage struct {
	once sync.Once
	name string
	err  error
}

// containerImage builds the test app's image with engine (podman or
// docker), from a static binary in an empty image (nothing is pulled), and
// returns its name. Without the engine (for docker: without a daemon that
// answers) the test is skipped, or fails under COVE_REQUIRE_SERVICES=1.
func containerImage(t *testing.T, engine string) string {
	t.Helper()
	if out, err := exec.Command(engine, "ps", "-q").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s does not answer (%v: %s); .ci/%s.sh installs it", engine, err, bytes.TrimSpace(out), engine)
		if os.Getenv("COVE_REQUIRE_SERVICES") == "1" {
			t.Fatal("COVE_REQUIRE_SERVICES=1: " + msg)
		}
		t.Skip(msg)
	}
	v, _ := testImages.LoadOrStore(engine, &testImage{})
	img := v.(*testImage)
	img.once.Do(func() {
		img.name = "localhost/cove-e2e-app:test"
		img.err = buildImage(engine, img.name, map[string]string{"app": "testdata/containerapp"})
	})
	if img.err != nil {
		t.Fatal(img.err)
	}
	return img.name
}

// eachEngine runs test against podman and docker, as subtests named for
// them.
func eachEngine(t *testing.T, test func(t *testing.T, engine string)) {
	for _, name := range engine.Names {
		t.Run(name, func(t *testing.T) { test(t, name) })
	}
}

// buildImage builds image tag with engine from static binaries
// (CGO_ENABLED=0) of Go packages: bins maps each binary's name in the
// image's root to the package's directory; /app is the entrypoint.
func buildImage(engine, tag string, bins map[string]string) error {
	ctx, err := os.MkdirTemp("", "cove-e2e-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ctx)
	containerfile := "FROM scratch\n"
	for name, pkg := range bins {
		build := exec.Command("go", "build", "-o", filepath.Join(ctx, name), ".")
		build.Dir, build.Env = pkg, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		containerfile += "COPY " + name + " /" + name + "\n"
	}
	containerfile += "ENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		return err
	}
	file := filepath.Join(ctx, "Containerfile")
	if out, err := exec.Command(engine, "build", "-q", "-f", file, "-t", tag, ctx).CombinedOutput(); err != nil {
		return fmt.Errorf("%s build %s: %v\n%s", engine, tag, err, out)
	}
	return nil
}

// stopLeavingNoContainer stops e with Ctrl-C and checks that no container
// of the environment of file is left.
func stopLeavingNoContainer(t *testing.T, e *env, file string) {
	t.Helper()
	e.stop()
	if left := containersOf(t, file); len(left) > 0 {
		t.Errorf("containers left after Ctrl-C: %v", left)
	}
}

// envEngines are the engines the environments of the tests run on, by
// file; podman when not listed.
var envEngines sync.Map

// engineOf is the engine the environment of file runs on.
func engineOf(file string) string {
	if e, ok := envEngines.Load(file); ok {
		return e.(string)
	}
	return "podman"
}

// containersOf lists the names (or format) of the engine's containers of the
// environment of file, running or not.
func containersOf(t *testing.T, file string, format ...string) []string {
	t.Helper()
	f := "{{.Names}}"
	if len(format) > 0 {
		f = format[0]
	}
	eng := engineOf(file)
	out, err := exec.Command(eng, "ps", "-a", "--filter", "label="+engine.LabelEnv+"="+control.EnvID(file), "--format", f).CombinedOutput()
	if err != nil {
		t.Fatalf("%s ps: %v\n%s", eng, err, out)
	}
	return strings.Fields(string(out))
}

// upOn is up with cove choosing the engine name ($COVE_ENGINE).
func upOn(t *testing.T, name, file string) *env {
	t.Helper()
	e := startWith(t, "", file, []string{engine.ChoiceVar + "=" + name}, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	return e
}

// containerEnvOn writes an environment with one container-mode app, web, of
// the test image, run on engine eng: the app's template is tmpl (YAML under
// template:). The environment's storage "shared" is the directory shared/,
// holding hello.txt.
func containerEnvOn(t *testing.T, eng, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "cove.yaml", `name: containers
apps:
  - file: web.yaml
    secrets: {token: s3cret}
components:
  - name: statestore
    file: statestore.yaml
storages:
  shared: ./shared
`)
	writeFile(t, dir, "shared/hello.txt", "from the share")
	writeFile(t, dir, "statestore.yaml", "componentType: state.in-memory\nversion: v1\n")
	writeFile(t, dir, "web.yaml", `name: web
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
    dapr: {enabled: true, appId: web, appPort: 8000}
    secrets: [{name: token, value: from-azure}]
    # Pulls would log in with the token; the local image needs none.
    registries: [{server: registry.example.test, username: bot, passwordSecretRef: token}]
  template:
`+tmpl)
	file := filepath.Join(dir, "cove.yaml")
	envEngines.Store(file, eng)
	t.Cleanup(func() {
		// Whatever the test did, the engine keeps nothing of it.
		e, err := engine.New(eng, eng)
		if err == nil {
			_, _, err = e.RemoveEnv(context.Background(), control.EnvID(file))
		}
		if err != nil {
			t.Logf("removing what is left of the environment: %v", err)
		}
	})
	return file
}

// TestContainerReplicas runs an app from its image alone: two replicas,
// both on port 8000 in pods of their own, reached through the edge, each
// calling its sidecar at localhost:3500, after an init container filled a
// shared EmptyDir; a Secret volume holds a file per secret, an AzureFile
// volume is its storage's local directory.
func TestContainerReplicas(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    initContainers:
      - {name: setup, image: %[1]s, args: [init, /work/ready], volumeMounts: [{volumeName: work, mountPath: /work}]}
    containers:
      - name: main
        image: %[1]s
        env: [{name: TOKEN, secretRef: token}, {name: GREETING, value: hi}]
        volumeMounts: [{volumeName: work, mountPath: /work}, {volumeName: secrets, mountPath: /mnt/secrets}, {volumeName: files, mountPath: /mnt/files}]
    volumes:
      - {name: work, storageType: EmptyDir}
      - {name: secrets, storageType: Secret}
      - {name: files, storageType: AzureFile, storageName: shared}
    scale: {minReplicas: 2, maxReplicas: 2}
`, image))
		e := upOn(t, eng, file)

		replicas := map[string]bool{}
		for range 4 {
			code, body := e.edge(t, "GET", "web", "/", "")
			if code != 200 {
				t.Fatalf("GET / through the edge: %d %s", code, body)
			}
			replicas[strings.TrimSpace(body)] = true
		}
		if len(replicas) != 2 {
			t.Errorf("the edge reached replicas %v, want both", replicas)
		}
		// State through each replica's own sidecar, at localhost:3500 in its pod.
		if code, body := e.edge(t, "PUT", "web", "/state/greeting", "hello"); code != 204 {
			t.Fatalf("PUT /state/greeting: %d %s", code, body)
		}
		for range 2 {
			if code, body := e.edge(t, "GET", "web", "/state/greeting", ""); code != 200 || body != `"hello"` {
				t.Errorf("GET /state/greeting: %d %s, want 200 \"hello\"", code, body)
			}
		}
		for path, want := range map[string]string{
			"/file?path=/work/ready":        "init ran\n",
			"/file?path=/mnt/secrets/token": "s3cret",
			"/env?name=TOKEN":               "s3cret",
			"/env?name=GREETING":            "hi",
			"/env?name=DAPR_HTTP_PORT":      "3500",
			"/env?name=DAPR_GRPC_PORT":      "50001",
			"/env?name=CONTAINER_APP_NAME":  "web",
			"/env?name=CONTAINER_APP_PORT":  "8000",
			"/env?name=COVE_POD_SPEC":       "",
		} {
			if code, body := e.edge(t, "GET", "web", path, ""); code != 200 || body != want {
				t.Errorf("GET %s: %d %q, want %q", path, code, body, want)
			}
		}
		// Pulls log in to the app's registries with the secret's local value.
		auths, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".cove", "auth", "*", "config.json"))
		for _, a := range auths {
			if b, err := os.ReadFile(a); err != nil || !strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("bot:s3cret"))) {
				t.Errorf("auth file %s: %s, %v; want bot's credentials for registry.example.test", a, b, err)
			}
		}
		if len(auths) != 2 {
			t.Errorf("auth files %v, want one per replica", auths)
		}
		if n := len(containersOf(t, file)); n != 4 {
			t.Errorf("%d containers (%v), want 4: two pods of an infra and an app container", n, containersOf(t, file))
		}
		stopLeavingNoContainer(t, e, file)
	})
}

// TestContainerInitFailure: an init container that exits 1 keeps the app's
// containers from starting, and says so.
func TestContainerInitFailure(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    initContainers:
      - {name: setup, image: %[1]s, args: [fail]}
    containers:
      - {name: main, image: %[1]s}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := startWith(t, "", file, []string{engine.ChoiceVar + "=" + eng}, "up", "-f", file)
		e.waitFor("init container setup: exited with code 1; the app's containers do not start", 2*time.Minute)
		if strings.Contains(e.out.String(), "listening on :8000") {
			t.Errorf("the app's container started after its init container failed:\n%s", e.out.String())
		}
		for _, c := range containersOf(t, file) {
			if strings.HasSuffix(c, "-main") {
				t.Errorf("container %s exists after its init container failed", c)
			}
		}
	})
}

// TestContainerKill9 kills cove with SIGKILL: its guardian removes the
// pods. With the guardian killed too, the next `cove up` removes what was
// left and says so. Either way nothing is left after the last stop.
func TestContainerKill9(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    containers:
      - {name: main, image: %s}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-e.done
		testenv.Poll(time.Minute, 200*time.Millisecond, func() bool { return len(containersOf(t, file)) == 0 })
		if left := containersOf(t, file); len(left) > 0 {
			t.Errorf("containers outlived a killed cove and its guardian: %v", left)
		}

		e = upOn(t, eng, file)
		children := testenv.ChildrenOf(e.cmd.Process.Pid)
		if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for _, pid := range children { // the guardian and the pod runners
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-e.done
		left := containersOf(t, file, "{{.ID}}")
		if len(left) == 0 {
			t.Fatal("no container left after cove and its guardian were killed; the test cannot check the cleanup")
		}
		e = upOn(t, eng, file)
		e.waitFor("a previous run of this environment left behind", time.Second)
		now := strings.Join(containersOf(t, file, "{{.ID}}"), " ")
		for _, id := range left {
			if strings.Contains(now, id) {
				t.Errorf("container %s of the killed cove is still there", id)
			}
		}
		if n := len(containersOf(t, file)); n != 2 {
			t.Errorf("%d containers running (%v), want the new replica's 2", n, containersOf(t, file))
		}
		stopLeavingNoContainer(t, e, file)
	})
}

// TestContainerSidecarAndOperations: a second container of the template
// shares localhost with the app; resources are the container's limits; cove exec runs inside either container
// (the sidecar at localhost:3500, as the workshop's curl does); cove ps
// names each container's image and id; cove logs has each container's
// lines.
func TestContainerSidecarAndOperations(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    containers:
      - {name: main, image: %[1]s, resources: {cpu: 0.5, memory: 256Mi}}
      - {name: helper, image: %[1]s, args: [idle]}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		out, err := e.cove("exec", "web", "--container", "helper", "--", "/app", "get", "http://localhost:8000/")
		if err != nil || !strings.HasPrefix(out, "200 web--") {
			t.Errorf("GET localhost:8000 from the helper container: %q, %v; want 200 and the replica's name", out, err)
		}
		out, err = e.cove("exec", "web", "--", "/app", "get", "http://localhost:3500/v1.0/healthz")
		if err != nil || !strings.HasPrefix(out, "204") {
			t.Errorf("GET localhost:3500/v1.0/healthz in the app's container: %q, %v; want 204", out, err)
		}
		// Apps by name, through the edge on the app's address, relayed into the pod.
		out, err = e.cove("exec", "web", "--", "/app", "get", "http://web/")
		if err != nil || !strings.HasPrefix(out, "200 web--") {
			t.Errorf("GET http://web/ from inside the container: %q, %v; want 200 and the replica's name", out, err)
		}
		if _, err := e.cove("exec", "web", "--container", "nope", "--", "/app"); err == nil || !strings.Contains(err.Error(), `no container "nope"; its containers: main, helper`) {
			t.Errorf("exec in an unknown container: %v", err)
		}

		st := e.status()
		var got []string
		for _, a := range st.Apps {
			for _, r := range a.Replicas {
				for _, c := range r.Containers {
					if c.ID == "" || c.State != "running" {
						t.Errorf("container %+v: want an id and running", c)
					}
					got = append(got, c.Name+" "+c.Image)
					if c.Name != "main" {
						continue
					}
					limits, err := exec.Command(eng, "container", "inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", c.ID).CombinedOutput()
					if got, want := strings.TrimSpace(string(limits)), "500000000 268435456"; err != nil || got != want {
						t.Errorf("the main container's cpu and memory limits: %q, %v; want %q", got, err, want)
					}
				}
			}
		}
		slices.Sort(got)
		if want := []string{"helper " + image, "main " + image}; !slices.Equal(got, want) {
			t.Errorf("cove ps containers = %q, want %q", got, want)
		}
		if out, err := e.cove("ps"); err != nil || !strings.Contains(out, "CONTAINER ID") || !strings.Contains(out, image) {
			t.Errorf("cove ps: %v\n%s", err, out)
		}
		out, err = e.cove("logs", "web")
		if err != nil || !strings.Contains(out, "main: listening on :8000") || !strings.Contains(out, "helper: idle") {
			t.Errorf("cove logs web: %v\n%s", err, out)
		}
		e.stop()
	})
}

// TestContainerAppWithoutEngine: with no engine on the PATH, an app that
// runs its image fails with an error naming it and how to install one; a
// process app of the same environment runs.
func TestContainerAppWithoutEngine(t *testing.T) {
	file := smallEnv(t, "noengine", smallApp{name: "web", mode: "http"})
	dir := filepath.Dir(file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "cove.yaml", strings.Replace(string(b), "components:", "  - file: boxed.yaml\ncomponents:", 1))
	writeFile(t, dir, "boxed.yaml", `name: boxed
properties:
  configuration:
    ingress: {targetPort: 8000}
  template:
    containers: [{name: main, image: localhost/boxed:dev}]
`)
	e := startWith(t, "", file, []string{"PATH=" + t.TempDir()}, "up", "-f", file)
	e.waitFor("environment noengine is up; not ready: boxed", time.Minute)
	out := e.out.String()
	for _, want := range []string{
		"app boxed runs its images and needs a container engine",
		"podman not found in PATH",
		"install podman",
		"or set `runtime: process` and a `command` for the app in cove.yaml",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cove up's output lacks %q", want)
		}
	}
	if code, body := e.edge(t, "GET", "web", "/", ""); code != 200 {
		t.Errorf("the process app: %d %s", code, body)
	}
	e.stop()
}

// TestContainerGracePeriod: a container that ignores SIGTERM is killed
// after the template's terminationGracePeriodSeconds, not the engine's
// default 10 s.
func TestContainerGracePeriod(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    terminationGracePeriodSeconds: 2
    containers:
      - {name: main, image: %s, args: [stubborn]}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		e.waitFor("ignoring SIGTERM", 10*time.Second)
		start := time.Now()
		e.stop()
		if took := time.Since(start); took < 2*time.Second || took > 8*time.Second {
			t.Errorf("stop took %s; want the 2 s grace period, then a kill", took)
		}
		if left := containersOf(t, file); len(left) > 0 {
			t.Errorf("containers left after Ctrl-C: %v", left)
		}
	})
}

// TestContainerReload: a changed template makes a new revision of new pods;
// the old revision's pods are removed once it retires.
func TestContainerReload(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    containers:
      - {name: main, image: %s, env: [{name: GREETING, value: hi}]}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		if code, body := e.edge(t, "GET", "web", "/env?name=GREETING", ""); body != "hi" {
			t.Fatalf("GREETING before the reload: %d %q", code, body)
		}
		old := containersOf(t, file, "{{.ID}}")
		app := filepath.Join(filepath.Dir(file), "web.yaml")
		b, err := os.ReadFile(app)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Dir(file), "web.yaml", strings.Replace(string(b), "value: hi", "value: bye", 1))
		if out, err := e.cove("reload"); err != nil {
			t.Fatalf("cove reload: %v\n%s", err, out)
		}
		if code, body := e.edge(t, "GET", "web", "/env?name=GREETING", ""); body != "bye" {
			t.Errorf("GREETING after the reload: %d %q", code, body)
		}
		gone := func() bool {
			now := strings.Join(containersOf(t, file, "{{.ID}}"), " ")
			for _, id := range old {
				if strings.Contains(now, id) {
					return false
				}
			}
			return true
		}
		if !testenv.Poll(time.Minute, 200*time.Millisecond, gone) {
			t.Errorf("the old revision's containers %v are still there: %v", old, containersOf(t, file))
		}
		e.stop()
	})
}

// TestContainerForcedStop: a second Ctrl-C kills the replicas at once; the
// pods their runners had no time to remove are removed before cove exits.
func TestContainerForcedStop(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    containers:
      - {name: main, image: %s, args: [stubborn]}
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		e.waitFor("ignoring SIGTERM", 10*time.Second)
		_ = e.cmd.Process.Signal(os.Interrupt)
		e.waitFor("stopping replicas", 10*time.Second)
		time.Sleep(500 * time.Millisecond)
		_ = e.cmd.Process.Signal(os.Interrupt)
		select {
		case <-e.done:
		case <-time.After(25 * time.Second):
			t.Fatalf("cove up did not stop within 25 s of a second Ctrl-C:\n%s", e.out.String())
		}
		if left := containersOf(t, file); len(left) > 0 {
			t.Errorf("containers left after a forced stop: %v", left)
		}
	})
}

// TestContainerTCPAppByName: a TCP app is reached from another app's pod as
// <app>:<exposedPort>, as `redis:6379` is in ACA.
func TestContainerTCPAppByName(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng string) {
		image := containerImage(t, eng)
		file := containerEnvOn(t, eng, fmt.Sprintf(`    containers: [{name: main, image: %s}]
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		dir := filepath.Dir(file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "cove.yaml", strings.Replace(string(b), "components:", "  - file: kv.yaml\ncomponents:", 1))
		writeFile(t, dir, "kv.yaml", fmt.Sprintf(`name: kv
properties:
  configuration:
    ingress: {transport: tcp, targetPort: 8000, exposedPort: 6390}
  template:
    containers: [{name: main, image: %s}]
    scale: {minReplicas: 1, maxReplicas: 1}
`, image))
		e := upOn(t, eng, file)
		// The test app speaks HTTP; over a TCP app's port it goes through as bytes.
		out, err := e.cove("exec", "web", "--", "/app", "get", "http://kv:6390/")
		if err != nil || !strings.HasPrefix(out, "200 kv--") {
			t.Errorf("GET http://kv:6390/ from web's pod: %q, %v; want 200 from a kv replica", out, err)
		}
		stopLeavingNoContainer(t, e, file)
	})
}
