package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// podman returns the machine's podman, skipping the test without one (or
// failing it under COVE_REQUIRE_SERVICES=1).
func podman(t *testing.T) *Engine {
	t.Helper()
	e, err := Detect(t.Context())
	if err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("COVE_REQUIRE_SERVICES=1: %v (bash .ci/podman.sh installs it)", err)
		}
		t.Skip(err)
	}
	return e
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
	e := podman(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env, other := "test-remove-"+time.Now().Format("150405.000000"), "test-keep-"+time.Now().Format("150405.000000")
	for _, id := range []string{env, other} {
		name := "cove-" + id
		if _, err := e.Output(ctx, "pod", "create", "--name", name, "--label", LabelEnv+"="+id); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = exec.Command(e.Bin, "pod", "rm", "-f", "-i", "-t", "0", name).Run() })
	}
	pods, _, err := e.RemoveEnv(ctx, env)
	if err != nil || pods != 1 {
		t.Fatalf("RemoveEnv = %d pods, %v; want 1", pods, err)
	}
	if pods, _, err := e.RemoveEnv(ctx, env); err != nil || pods != 0 {
		t.Errorf("RemoveEnv again = %d pods, %v; want 0", pods, err)
	}
	out, err := e.Output(ctx, "pod", "exists", "cove-"+other)
	if err != nil {
		t.Errorf("the other environment's pod is gone: %v %s", err, out)
	}
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
	e := podman(t)
	name := "cove-test-leftover-" + time.Now().Format("150405.000000")
	name = strings.ReplaceAll(name, ".", "-")
	if _, err := e.Output(t.Context(), "pod", "create", "--name", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command(e.Bin, "pod", "rm", "-f", "-i", "-t", "0", name).Run() })
	// The engine's own pause image, there once a pod was created: no pull.
	out, err := e.Output(t.Context(), "images", "--filter", "reference=localhost/podman-pause", "--format", "{{.Repository}}:{{.Tag}}")
	image := strings.TrimSpace(strings.Split(string(out), "\n")[0])
	if err != nil || image == "" {
		t.Fatalf("the pause image: %q, %v", out, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	spec := PodSpec{Name: name, Labels: map[string]string{LabelEnv: "test-leftover"}, Grace: time.Second,
		Containers: []ContainerSpec{{Name: "main", Image: image}}}
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
	if _, err := e.Output(t.Context(), "pod", "exists", name); err == nil {
		t.Errorf("pod %s still exists after the stop", name)
	}
}
