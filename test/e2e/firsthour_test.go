package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
	"github.com/cove-env/cove/test/internal/testenv"
)

// TestCrashingAppDoesNotHideTheSummary starts an environment where one app
// exits at start and another's executable is missing: cove up still
// prints the summary for the app that runs, says which apps are not ready
// and why (exit code, last lines), marks them in the summary and in cove
// ps, and shows none of them with a ✓. With port 8443 taken, the summary
// says which port HTTPS is on.
func TestCrashingAppDoesNotHideTheSummary(t *testing.T) {
	// Held here, or by another process already: taken either way.
	if ln, err := net.Listen("tcp", "127.0.0.1:8443"); err == nil {
		defer ln.Close()
	}
	file := smallEnv(t, "crashy",
		smallApp{name: "web", mode: "http"},
		smallApp{name: "bad", mode: "crash"},
		smallApp{name: "gone", command: "./no-such-binary"})
	e := start(t, "", file, "up", "-f", file)
	e.waitFor("environment crashy is up; not ready: bad, gone", time.Minute)
	out := e.out.String()
	for _, want := range []string{
		"✗ app bad is not ready: replica bad--",
		"exited (exit status 3)",
		"    fatal: cannot open the database",
		"exited (exit status 127)",
		"no-such-binary",
		"✗ bad ",
		"✗ gone ",
		"port 8443 is taken",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cove up's output lacks %q", want)
		}
	}
	if !strings.Contains(out, "  web   external  1/1") {
		t.Errorf("the summary does not list web as ready")
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✓") && (strings.Contains(l, "bad") || strings.Contains(l, "gone")) {
			t.Errorf("a failed app shown with a ✓: %q", l)
		}
	}

	ps, err := e.cove("ps")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"✗ bad ", "✗ bad is not ready: replica bad--", "exit status 3", "✗ gone is not ready"} {
		if !strings.Contains(ps, want) {
			t.Errorf("cove ps lacks %q:\n%s", want, ps)
		}
	}
	if t.Failed() {
		t.Logf("cove ps:\n%s", ps)
	}
	e.stop()
}

// TestCommandsFindTheRunningEnvironment runs cove ps, logs and down without
// -f from a subdirectory of the environment and from elsewhere, as the
// quick start in cove --help does, and checks what a command says when
// nothing runs.
func TestCommandsFindTheRunningEnvironment(t *testing.T) {
	file := smallEnv(t, "findme", smallApp{name: "web", mode: "http"})
	vars := []string{"XDG_RUNTIME_DIR=" + t.TempDir()} // this test's own registry
	sub := filepath.Join(filepath.Dir(file), "components")
	elsewhere := t.TempDir()
	run := func(dir string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(coveBin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), vars...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run(elsewhere, "ps"); err == nil || !strings.Contains(out, "no running environment found") ||
		!strings.Contains(out, "no cove.yaml in "+elsewhere) || !strings.Contains(out, "-f") {
		t.Errorf("cove ps with nothing running: %v\n%s\nwant what was looked for and a hint at -f", err, out)
	}

	e := startWith(t, "", file, vars, "up", "-f", filepath.Dir(file)) // a directory holding cove.yaml
	e.waitFor("is ready", time.Minute)
	for _, dir := range []string{sub, elsewhere} {
		if out, err := run(dir, "ps"); err != nil || !strings.Contains(out, "web--") {
			t.Errorf("cove ps in %s: %v\n%s", dir, err, out)
		}
		if out, err := run(dir, "logs", "web"); err != nil {
			t.Errorf("cove logs web in %s: %v\n%s", dir, err, out)
		}
	}
	// A command that is not there exits 127, as in a shell.
	out, err := run(elsewhere, "exec", "web", "--", "no-such-command")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(out, "no-such-command") {
		t.Errorf("cove exec of a missing command: %v\n%s\nwant exit status 127 and its name", err, out)
	}
	if out, err := run(elsewhere, "down"); err != nil {
		t.Fatalf("cove down from elsewhere: %v\n%s", err, out)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("cove up after cove down: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cove up still runs 30s after cove down")
	}
}

// TestFailedBuildIsPrintedOnce checks that cove up reports a failed build,
// with its output, once, and exits with status 1.
func TestFailedBuildIsPrintedOnce(t *testing.T) {
	file := smallEnv(t, "nobuild", smallApp{name: "web", mode: "http"})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	withBuild := strings.Replace(string(b), "    command:", "    build: printf 'compiler %s\\n' 'says no'; exit 2\n    command:", 1)
	writeFile(t, filepath.Dir(file), "cove.yaml", withBuild)
	e := start(t, "", file, "up", "-f", file)
	select {
	case err := <-e.done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("cove up with a failing build: %v, want exit status 1", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("cove up still runs a minute after its build failed")
	}
	out := e.out.String()
	if n := strings.Count(out, "compiler says no"); n != 1 {
		t.Errorf("the build's output is printed %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "build of web failed"); n != 1 {
		t.Errorf("the build failure is reported %d times, want once:\n%s", n, out)
	}
}

// TestUpDetachedLogsAndDown runs a subset of an environment's apps in the
// background with cove up -d APP, follows and filters its logs, and stops
// it with cove down, which returns once everything has stopped.
func TestUpDetachedLogsAndDown(t *testing.T) {
	file := smallEnv(t, "detached", smallApp{name: "web", mode: "http"}, smallApp{name: "bad", mode: "crash"})
	port := testaddr.FreePort(t)
	cove := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, coveBin, args...).CombinedOutput()
		return string(out), err
	}
	out, err := cove("up", "-d", "-f", file, "--http-port", fmt.Sprint(port), "web")
	t.Cleanup(func() { _, _ = cove("down", "-f", file) })
	if err != nil || !strings.Contains(out, "environment detached is ready") || !strings.Contains(out, "cove down") {
		t.Fatalf("cove up -d: %v\n%s\nwant the summary, then a return", err, out)
	}
	st := (&env{t: t, file: file}).status()
	if len(st.Apps) != 1 || st.Apps[0].Name != "web" {
		t.Fatalf("cove up -d web runs %+v, want only web", st.Apps)
	}
	rev, pid := st.Apps[0].Revision, st.PID

	// --follow prints lines as they are written.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	follow := exec.CommandContext(ctx, coveBin, "logs", "-f", file, "--follow", "--tail", "1")
	var followed testlog.Buffer
	follow.Stdout, follow.Stderr = &followed, &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()
	time.Sleep(500 * time.Millisecond) // the follower has its first lines
	for _, path := range []string{"/one", "/two"} {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		req.Host = "web.localhost"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	if !testenv.Poll(10*time.Second, 100*time.Millisecond, func() bool {
		return strings.Contains(followed.String(), "request /two")
	}) {
		t.Fatalf("cove logs --follow did not print the new lines:\n%s", followed.String())
	}
	if n := strings.Count(followed.String(), "request /one"); n != 1 {
		t.Errorf("cove logs --follow printed a line %d times:\n%s", n, followed.String())
	}

	// Filters: all apps when none is named, --tail, --since, --revision,
	// --replica.
	for _, c := range []struct {
		args []string
		want string // a line that must be there; empty: no line at all
	}{
		{[]string{"logs", "--tail", "1"}, "request /two"},
		{[]string{"logs", "web", "--since", "1h"}, "request /one"},
		{[]string{"logs", "--since", "2100-01-01T00:00:00Z"}, ""},
		{[]string{"logs", "--revision", rev}, "request /one"},
		{[]string{"logs", "--replica", rev + "-0", "--tail", "2"}, "request /one"},
	} {
		out, err := cove(append(c.args, "-f", file)...)
		if err != nil {
			t.Errorf("cove %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		if c.want == "" && out != "" || c.want != "" && !strings.Contains(out, c.want) {
			t.Errorf("cove %s printed:\n%s\nwant %q", strings.Join(c.args, " "), out, c.want)
		}
		if c.want != "" && !strings.Contains(out, rev+"-0 | ") {
			t.Errorf("cove %s: lines not prefixed with the replica's name:\n%s", strings.Join(c.args, " "), out)
		}
	}
	if out, err := cove("logs", "-f", file, "--revision", "web--nope"); err == nil || !strings.Contains(out, "no revision named") {
		t.Errorf("cove logs --revision of no revision: %v\n%s", err, out)
	}

	out, err = cove("down", "-f", file)
	if err != nil || !strings.Contains(out, "environment detached stopped") {
		t.Fatalf("cove down: %v\n%s", err, out)
	}
	if testenv.Alive(pid) {
		t.Errorf("cove (pid %d) still runs after cove down returned", pid)
	}
}
