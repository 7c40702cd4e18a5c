package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// podman returns the machine's podman, skipping the test without one (or
// failing it under COVE_REQUIRE_SERVICES=1).
func podman(t *testing.T) *Engine {
	t.Helper()
	return require(t, "podman")
}

// require returns the engine name if it is installed and answers, skipping
// the test otherwise (or failing it under COVE_REQUIRE_SERVICES=1: CI
// installs both).
func require(t *testing.T, name string) *Engine {
	t.Helper()
	e, err := detect(t.Context(), []string{name})
	if err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("COVE_REQUIRE_SERVICES=1: %v (bash .ci/%s.sh installs it)", err, name)
		}
		t.Skip(err)
	}
	return e
}

// eachEngine runs test against every engine cove drives, as a subtest named
// for it.
func eachEngine(t *testing.T, test func(t *testing.T, e *Engine)) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) { test(t, require(t, name)) })
	}
}

// podExists reports whether the engine has pod name.
func podExists(t *testing.T, e *Engine, name string) bool {
	t.Helper()
	if e.Name == "podman" {
		_, err := e.Output(t.Context(), "pod", "exists", name)
		return err == nil
	}
	cs, err := e.Containers(t.Context(), LabelPod, name)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs) > 0
}

// removeTestPod removes pod name whatever the test did.
func removeTestPod(t *testing.T, e *Engine, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = e.pods.remove(ctx, e, PodSpec{Name: name})
	})
}

// testPodName is a pod name of its own for the test, made of id.
func testPodName(id string) string {
	return strings.ReplaceAll("cove-test-"+id+"-"+time.Now().Format("150405.000000"), ".", "-")
}

func TestDetectWithoutEngine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Detect(context.Background())
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "podman not found in PATH") || !strings.Contains(err.Error(), "apt-get install podman") {
		t.Errorf("Detect without podman: %v; want ErrNoEngine saying what is missing and how to install it", err)
	}
}

// TestRemoveEnv removes the pods of one environment and leaves another's.
func TestRemoveEnv(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Engine) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		env, other := testPodName("remove"), testPodName("keep")
		for _, id := range []string{env, other} {
			removeTestPod(t, e, id)
			if err := e.pods.create(ctx, e, PodSpec{Name: id, Labels: map[string]string{LabelEnv: id}}); err != nil {
				t.Fatal(err)
			}
		}
		pods, containers, err := e.RemoveEnv(ctx, env)
		if err != nil || pods != 1 || containers != 1 {
			t.Fatalf("RemoveEnv = %d pods (%d containers), %v; want 1 pod, its infra container", pods, containers, err)
		}
		if pods, _, err := e.RemoveEnv(ctx, env); err != nil || pods != 0 {
			t.Errorf("RemoveEnv again = %d pods, %v; want 0", pods, err)
		}
		if podExists(t, e, env) {
			t.Errorf("pod %s is still there", env)
		}
		if !podExists(t, e, other) {
			t.Errorf("the other environment's pod is gone")
		}
	})
}

func TestContainerArgs(t *testing.T) {
	if got, want := jsonArray([]string{"/bin/sh", "-c", `echo "a b"`}), `["/bin/sh","-c","echo \"a b\""]`; got != want {
		t.Errorf("jsonArray = %s, want %s", got, want)
	}
	for k, want := range map[string]bool{"PATH": true, "XDG_RUNTIME_DIR": true, "CONTAINERS_CONF": true, "TOKEN": false, "DAPR_HTTP_PORT": false} {
		if engineVar(k) != want {
			t.Errorf("engineVar(%s) = %t", k, !want)
		}
	}
}

// TestAuthFile: the engine reads the credentials WriteAuthFile writes.
func TestAuthFile(t *testing.T) {
	e := podman(t)
	path := t.TempDir() + "/auth/replica.json"
	if err := WriteAuthFile(path, []Credentials{{Server: "registry.example.test", Username: "bot", Password: "s3cret"}}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("auth file: %v, mode %v; want 0600", err, st.Mode())
	}
	out, err := e.Output(t.Context(), "login", "--get-login", "--authfile", path, "registry.example.test")
	if err != nil || strings.TrimSpace(string(out)) != "bot" {
		t.Errorf("podman login --get-login: %q, %v; want bot", out, err)
	}
}

// TestRunPodReplacesLeftover: a pod left by a runner that was killed (same
// name) is replaced, and a stop removes the new one.
func TestRunPodReplacesLeftover(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Engine) {
		name := testPodName("leftover")
		removeTestPod(t, e, name)
		if err := e.pods.create(t.Context(), e, PodSpec{Name: name}); err != nil {
			t.Fatal(err)
		}
		main := ContainerSpec{Name: "main", Image: pauseImage(t, e)}
		if e.Name == "docker" {
			main.Command = []string{"/" + pauseFile}
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		spec := PodSpec{Name: name, Labels: map[string]string{LabelEnv: "test-leftover"}, Grace: time.Second, Containers: []ContainerSpec{main}}
		go func() { done <- RunPod(ctx, e, spec, io.Discard, io.Discard, slog.New(slog.DiscardHandler)) }()
		running := func() bool {
			out, _ := e.Output(t.Context(), "ps", "-q", "--filter", "name="+ContainerName(name, "main"), "--filter", "status=running")
			return len(strings.TrimSpace(string(out))) > 0
		}
		deadline := time.Now().Add(time.Minute)
		for !running() && time.Now().Before(deadline) {
			select {
			case err := <-done:
				t.Fatalf("RunPod ended before its container ran: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunPod stopped: %v, want nil", err)
		}
		if podExists(t, e, name) {
			t.Errorf("pod %s still exists after the stop", name)
		}
	})
}

// pauseImage is an image on the machine that nothing has to pull: the
// engine's own pause image (podman's, there once a pod was created), or
// cove's (docker).
func pauseImage(t *testing.T, e *Engine) string {
	t.Helper()
	if e.Name == "docker" {
		image, err := dockerPods{}.pauseImage(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		return image
	}
	out, err := e.Output(t.Context(), "images", "--filter", "reference=localhost/podman-pause", "--format", "{{.Repository}}:{{.Tag}}")
	image := strings.TrimSpace(strings.Split(string(out), "\n")[0])
	if err != nil || image == "" {
		t.Fatalf("the pause image: %q, %v", out, err)
	}
	return image
}

// TestDetectChoice: $COVE_ENGINE names the only engine tried, and one cove
// does not drive is an error that names those it does.
func TestDetectChoice(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(ChoiceVar, "docker")
	if _, err := Detect(t.Context()); !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "docker not found in PATH") || strings.Contains(err.Error(), "podman not found") {
		t.Errorf("Detect with %s=docker: %v; want only docker tried", ChoiceVar, err)
	}
	t.Setenv(ChoiceVar, "containerd")
	if _, err := Detect(t.Context()); !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "podman, docker") {
		t.Errorf("Detect with %s=containerd: %v; want the engines cove drives named", ChoiceVar, err)
	}
}
