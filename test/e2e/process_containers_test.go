package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessModeContainers runs, with cove up, an app whose template has
// an init container and two containers, each with its command in
// cove.yaml: the init container runs first, cove logs names each
// container's lines, and Ctrl-C stops both containers.
func TestProcessModeContainers(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"pod.yaml": `name: pod
properties:
  template:
    initContainers: [{name: migrate, image: m}]
    containers: [{name: web, image: w}, {name: logger, image: l}]
`,
		"cove.yaml": `apps:
  - file: pod.yaml
    containers:
      migrate: {command: 'echo migrating; echo done > migrated'}
      web: {command: 'cat migrated; echo $$ > web.pid; echo web up; exec sleep 600'}
      logger: {command: 'echo $$ > logger.pid; echo logger up; exec sleep 600'}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := up(t, filepath.Join(dir, "cove.yaml"))

	var out string
	deadline := time.Now().Add(30 * time.Second)
	want := []string{"| migrate: migrating", "| web: done", "| web: web up", "| logger: logger up"}
	for {
		var err error
		if out, err = e.cove("logs", "pod"); err != nil {
			t.Fatal(err)
		}
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(out, w)
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cove logs pod lacks one of %q:\n%s", want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The replica's view, as az shows it, has both containers that run.
	out, err := e.cove("containerapp", "replica", "list", "-n", "pod", "--query", "[0].properties.containers[].name", "-o", "tsv")
	if err != nil || strings.Join(strings.Fields(out), " ") != "web logger" {
		t.Errorf("replica list's containers: %q (%v); want web and logger", out, err)
	}

	var pids []int
	for _, f := range []string{"web.pid", "logger.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	e.stop()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("container process %d survives cove up's stop", pid)
		}
	}
}
