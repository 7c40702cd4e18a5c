package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
	"github.com/cove-env/cove/test/internal/testenv"
)

// coveBin is the binary under test, built once in TestMain.
var coveBin string

func TestMain(m *testing.M) {
	if mode := os.Getenv("COVE_E2E_APP"); mode != "" {
		os.Exit(runApp(mode))
	}
	bin, cleanup, err := testenv.BuildCove("cove-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The environments the tests run are listed in a registry of their own,
	// not among the user's (see control.RegistryDir).
	registry, err := os.MkdirTemp("", "cove-e2e-registry")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_RUNTIME_DIR", registry)
	coveBin = bin
	code := m.Run()
	cleanup()
	_ = os.RemoveAll(registry)
	os.Exit(code)
}

// copyExample copies an example environment into a fresh directory so each
// test owns its state directory and databases.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(testenv.RepoRoot(), "examples", name)
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == control.StateDirName {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// env is a running `cove up`.
type env struct {
	t        *testing.T
	bin      string               // the cove binary this env runs
	attr     *syscall.SysProcAttr // for every cove command: the user it runs as
	file     string
	httpPort int
	cmd      *exec.Cmd
	out      *testlog.Buffer
	done     chan error
}

// up starts `cove up` on file and waits until it reports ready.
func up(t *testing.T, file string) *env {
	t.Helper()
	e := start(t, "", file, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	return e
}

// start runs cove with args and an --http-port of its own in dir (the
// test's working directory when empty), for the environment of file
// (which env.cove passes to other commands). It does not wait.
func start(t *testing.T, dir, file string, args ...string) *env {
	t.Helper()
	return startWith(t, dir, file, nil, args...)
}

// startWith is start with variables added to cove's environment.
func startWith(t *testing.T, dir, file string, vars []string, args ...string) *env {
	t.Helper()
	return startAs(t, coveBin, nil, dir, file, vars, args...)
}

// startAs is startWith with the cove binary bin, started (as every cove
// command of the env) with attr: another user's cove.
func startAs(t *testing.T, bin string, attr *syscall.SysProcAttr, dir, file string, vars []string, args ...string) *env {
	t.Helper()
	e := &env{t: t, bin: bin, attr: attr, file: file, httpPort: testaddr.FreePort(t), out: &testlog.Buffer{}, done: make(chan error, 1)}
	e.cmd = exec.Command(bin, append(args, "--http-port", fmt.Sprint(e.httpPort))...)
	e.cmd.Dir, e.cmd.SysProcAttr = dir, attr
	if vars != nil {
		e.cmd.Env = append(os.Environ(), vars...)
	}
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(func() {
		if e.cmd.ProcessState == nil {
			_ = e.cmd.Process.Signal(os.Interrupt)
			select {
			case <-e.done:
			case <-time.After(30 * time.Second):
				_ = e.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("cove %s output:\n%s", args[0], e.out.String())
		}
	})
	return e
}

// waitFor polls cove's output for a string.
func (e *env) waitFor(s string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(e.out.String(), s) {
			return
		}
		select {
		case err := <-e.done:
			e.t.Fatalf("cove up exited (%v) before printing %q:\n%s", err, s, e.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	e.t.Fatalf("cove up did not print %q within %s:\n%s", s, timeout, e.out.String())
}

// cove runs a cove subcommand against the environment and returns stdout.
func (e *env) cove(args ...string) (string, error) {
	e.t.Helper()
	return e.coveIn("", args...)
}

// coveIn is cove with stdin.
func (e *env) coveIn(stdin string, args ...string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	full := append([]string{args[0], "-f", e.file}, args[1:]...)
	bin := e.bin
	if bin == "" { // an env made for its commands only, with no cove up
		bin = coveBin
	}
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.SysProcAttr = e.attr
	if e.attr != nil {
		cmd.Env = e.cmd.Env
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("cove %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// status is `cove ps -o json`.
func (e *env) status() control.Status {
	e.t.Helper()
	out, err := e.cove("ps", "-o", "json")
	if err != nil {
		e.t.Fatal(err)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("cove ps -o json: %v\n%s", err, out)
	}
	return st
}

// stop sends Ctrl-C and waits for a clean exit.
func (e *env) stop() {
	e.t.Helper()
	if err := e.cmd.Process.Signal(os.Interrupt); err != nil {
		e.t.Fatal(err)
	}
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Fatalf("cove up exited with %v after Ctrl-C:\n%s", err, e.out.String())
		}
	case <-time.After(60 * time.Second):
		e.t.Fatalf("cove up did not stop within 60s of Ctrl-C:\n%s", e.out.String())
	}
}
