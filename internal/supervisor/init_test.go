package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func shellContainer(name, script string) Container {
	return Container{Name: name, Command: []string{script}, Shell: true, Env: []string{"PATH=" + os.Getenv("PATH")}}
}

func TestContainersRunTogetherAfterInit(t *testing.T) {
	s, rec := newSupervisor(t)
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	spec := shell("pod", `echo main $$; exec sleep 60`)
	spec.Container = "app"
	spec.Dir = dir
	spec.Init = []Container{
		shellContainer("first", `echo first >> order; echo init one`),
		shellContainer("second", `grep -q first order && echo second >> order`),
	}
	spec.Init[0].Dir, spec.Init[1].Dir = dir, dir
	// The sidecar exits once the file "stop" exists.
	side := shellContainer("side", `echo side $$; while [ ! -e stop ]; do sleep 0.05; done; exit 3`)
	side.Dir = dir
	spec.Sidecars = []Container{side}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(order); err != nil || string(b) != "first\nsecond\n" {
		t.Errorf("init containers' record = %q, %v; want first then second", b, err)
	}
	pids := map[string]int{}
	waitFor(t, "both containers' pids", func() bool {
		for _, l := range rec.output() {
			for _, c := range []string{"app", "side"} {
				prefix := "pod: " + c + ": "
				if c == "app" {
					prefix += "main "
				} else {
					prefix += "side "
				}
				if n, ok := strings.CutPrefix(l.Text, prefix); ok {
					pids[c], _ = strconv.Atoi(n)
				}
			}
		}
		return pids["app"] != 0 && pids["side"] != 0
	})
	if !rec.hasLine("pod: first: init one") {
		t.Errorf("the init container's output is not in the log, named: %v", rec.output())
	}
	if st := status(t, s, "pod"); st.PID != pids["app"] || !st.Ready {
		t.Errorf("status = %+v, want ready with the main container's pid %d", st, pids["app"])
	}

	// A sidecar that exits ends the replica, main container included, and
	// the restart runs the init containers again.
	if err := os.WriteFile(filepath.Join(dir, "stop"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", func() bool { return status(t, s, "pod").Restarts == 1 })
	if alive(pids["app"]) {
		t.Errorf("main container %d survived the sidecar's exit", pids["app"])
	}
	if st, _ := rec.lastChange("pod"); !strings.Contains(st.LastExit, "container side: exit status 3") {
		t.Errorf("last exit = %q, want the sidecar's", st.LastExit)
	}
	if err := os.Remove(filepath.Join(dir, "stop")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted replica", func() bool { return status(t, s, "pod").State == StateReady })
	if b, _ := os.ReadFile(order); string(b) != "first\nsecond\nfirst\nsecond\n" {
		t.Errorf("init record after the restart = %q, want the init containers run again", b)
	}

	// Stopping the replica stops every container.
	clear(pids)
	waitFor(t, "the new pids", func() bool {
		for _, l := range rec.output() {
			if n, ok := strings.CutPrefix(l.Text, "pod: side: side "); ok {
				pids["side"], _ = strconv.Atoi(n)
			}
		}
		return pids["side"] != 0 && alive(pids["side"])
	})
	app := status(t, s, "pod").PID
	if err := s.Stop(t.Context(), "pod"); err != nil {
		t.Fatal(err)
	}
	for c, pid := range map[string]int{"app": app, "side": pids["side"]} {
		if alive(pid) {
			t.Errorf("container %s (%d) still runs after Stop", c, pid)
		}
	}
}

func TestInitContainerFailureKeepsContainersFromStarting(t *testing.T) {
	s, rec := newSupervisor(t)
	dir := t.TempDir()
	spec := shell("pod", `touch started; exec sleep 60`)
	spec.Dir = dir
	spec.Container = "app"
	spec.Init = []Container{
		shellContainer("ok", `echo fine`),
		shellContainer("migrate", `echo cannot migrate >&2; exit 4`),
		shellContainer("never", `touch never`),
	}
	for i := range spec.Init {
		spec.Init[i].Dir = dir
	}
	begin := time.Now()
	err := s.Start(t.Context(), spec)
	if !errors.Is(err, ErrInitFailed) || !strings.Contains(err.Error(), "init container migrate: exit status 4") {
		t.Fatalf("Start = %v, want init container migrate's failure", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Start took %v", took)
	}
	for _, f := range []string{"started", "never"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: something ran after the failed init container", f)
		}
	}
	if !rec.hasLine("pod: migrate: cannot migrate") {
		t.Errorf("the failed init container's output is not in the log: %v", rec.output())
	}
	if _, ok := s.Status("pod"); ok {
		t.Errorf("a replica whose start failed is listed")
	}
}

func TestContainerSpecErrors(t *testing.T) {
	s, _ := newSupervisor(t)
	spec := shell("pod", `exec sleep 60`)
	spec.Sidecars = []Container{{Command: []string{"x"}}, {Name: "empty"}}
	err := s.Start(t.Context(), spec)
	if err == nil || !strings.Contains(err.Error(), "a container without a name") || !strings.Contains(err.Error(), "container empty: command is empty") ||
		!strings.Contains(err.Error(), "container is empty") {
		t.Errorf("Start = %v, want both problems", err)
	}
}

func TestContainerThatCannotStartStopsTheOthers(t *testing.T) {
	s, _ := newSupervisor(t)
	dir := t.TempDir()
	spec := shell("pod", `echo $$ > main.pid; exec sleep 60`)
	spec.Dir, spec.Container = dir, "app"
	spec.Sidecars = []Container{{Name: "side", Command: []string{"./no-such-binary"}, Dir: dir}}
	err := s.Start(t.Context(), spec)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "container side") {
		t.Fatalf("Start = %v, want the sidecar's missing binary", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "main.pid")); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid != 0 && alive(pid) {
			t.Errorf("main container %d runs on without its sidecar", pid)
		}
	}
}
