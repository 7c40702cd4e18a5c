package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cove-env/cove/internal/testuser"
)

// launcherArg makes the test binary the replica launcher (see TestMain).
const launcherArg = "supervisor-test-launcher"

// namesScript prints what the launcher set up: the hosts file, the user,
// the capabilities and the shell's pid; then the same process becomes the
// test binary's "pdeathsig" helper, which prints the parent-death signal
// the launcher's exec kept, and waits.
const namesScript = `cat /etc/hosts; echo "uid=$(id -u) pid=$$"; grep CapEff /proc/self/status; ` +
	`exec env ` + helperEnv + `=pdeathsig "$TEST_BINARY"`

// The "pdeathsig" helper prints the signal this process gets when its
// parent dies, then waits.
func init() {
	if os.Getenv(helperEnv) != "pdeathsig" {
		return
	}
	var sig int
	if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Printf("pdeathsig=%d\n", sig)
	time.Sleep(60 * time.Second)
	os.Exit(0)
}

func writeHostsFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, []byte("127.1.2.3\tcove-test-app cove-test-app.internal.localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplicaSeesItsHostsFile(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	opts := rec.options()
	opts.Launcher = []string{os.Args[0], launcherArg}
	s := New(opts)
	t.Cleanup(func() { _ = s.StopAll(context.Background()) })
	spec := shell("named", namesScript)
	spec.Env = append(spec.Env, "TEST_BINARY="+os.Args[0])
	spec.Hosts = writeHostsFile(t, t.TempDir())
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica's hosts file", func() bool {
		return rec.hasLine("named: 127.1.2.3\tcove-test-app cove-test-app.internal.localhost")
	})
	// The launcher execs the command in its own place: the pid the
	// supervisor watches and signals is the replica's.
	st := status(t, s, "named")
	want := fmt.Sprintf("named: uid=%d pid=%d", os.Geteuid(), st.PID)
	waitFor(t, want, func() bool { return rec.hasLine(want) })
	if os.Geteuid() != 0 && !rec.hasLine("named: CapEff:\t0000000000000000") {
		t.Errorf("the replica kept capabilities: %v", rec.output())
	}
	// The replica still dies with the supervisor.
	waitFor(t, "the parent-death signal", func() bool { return rec.hasLine("named: pdeathsig=9") })
	machine, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(machine, []byte("cove-test-app")) {
		t.Fatal("the replica's hosts file is the machine's /etc/hosts")
	}
	// Without a Hosts file the launcher is not used.
	plain := shell("plain", `cat /etc/hosts; exec sleep 60`)
	if err := s.Start(t.Context(), plain); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(machine), "\n")
	waitFor(t, "the machine's hosts file", func() bool { return rec.hasLine("plain: " + first) })
}

// TestLauncherAsAnotherUser runs the supervisor as a user other than root,
// which takes a user namespace: the replica keeps its user and gets no
// capability.
func TestLauncherAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching to another user takes root; TestReplicaSeesItsHostsFile covers this user")
	}
	// The test binary and the hosts file must be readable by that user.
	dir, err := os.MkdirTemp("", "cove-launcher-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "supervisor.test")
	testuser.CopyExecutable(t, os.Args[0], exe)
	hosts := writeHostsFile(t, dir)

	const nobody = 65534
	cmd := exec.Command(exe)
	cmd.Env = []string{helperEnv + "=names", "HOSTS=" + hosts, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{
		"127.1.2.3\tcove-test-app cove-test-app.internal.localhost\n",
		"uid=65534 ",
		"CapEff:\t0000000000000000\n",
		"pdeathsig=9\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("replica printed:\n%s\nwant %q", out, want)
		}
	}
}

// superviseNames is the "names" helper: a supervisor with the launcher
// runs namesScript with $HOSTS and prints the replica's output.
func superviseNames() {
	out := make(chan string, 16)
	s := New(Options{
		Launcher: []string{os.Args[0], launcherArg},
		Output:   func(_, _ string, line []byte) { out <- string(line) },
	})
	spec := ReplicaSpec{Name: "names", Command: []string{namesScript}, Shell: true,
		Env: []string{"PATH=" + os.Getenv("PATH"), "TEST_BINARY=" + os.Args[0]}, Hosts: os.Getenv("HOSTS")}
	if err := s.Start(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for timeout := time.After(20 * time.Second); ; {
		select {
		case line := <-out:
			fmt.Println(line)
			if strings.HasPrefix(line, "pdeathsig=") {
				_ = s.StopAll(context.Background())
				os.Exit(0)
			}
		case <-timeout:
			fmt.Fprintln(os.Stderr, "no pdeathsig line within 20s")
			os.Exit(2)
		}
	}
}

// TestLauncherOnlyMountsInItsOwnNamespace: started in the namespace it was
// told to leave, the launcher mounts nothing and runs the command on the
// machine's names. The helper runs in a mount namespace of its own all the
// same, so a launcher that did mount could not touch the machine's.
func TestLauncherOnlyMountsInItsOwnNamespace(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{helperEnv + "=launch-in-place", "HOSTS=" + writeHostsFile(t, t.TempDir())}
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if uid := os.Geteuid(); uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	machine, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(machine) {
		t.Errorf("the command saw /etc/hosts as:\n%s\nwant the machine's", stdout.String())
	}
	if !strings.Contains(stderr.String(), "not in a mount namespace of its own") {
		t.Errorf("stderr %q does not say why the names are missing", stderr.String())
	}
}

func TestLauncherUsage(t *testing.T) {
	out, err := exec.Command(os.Args[0], launcherArg, "/bin/true").CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--hosts FILE") {
		t.Errorf("launcher without its arguments: %v, %q", err, out)
	}
	// A command it cannot run fails as a shell's would. Told the wrong
	// namespace to leave, the launcher still sees it shares its parent's,
	// and mounts nothing.
	hosts := writeHostsFile(t, t.TempDir())
	out, err = exec.Command(os.Args[0], launcherArg, "--hosts", hosts, "--outside", "none", "--", "/nonexistent/app", "app").CombinedOutput()
	if !errorsAs(err, &ee) || ee.ExitCode() != launcherFailed || !strings.Contains(string(out), "run /nonexistent/app") {
		t.Errorf("launcher with a missing command: %v, %q", err, out)
	}
	if !strings.Contains(string(out), "not in a mount namespace of its own") {
		t.Errorf("launcher in its parent's mount namespace: %q", out)
	}
	if machine, _ := os.ReadFile("/etc/hosts"); bytes.Contains(machine, []byte("cove-test-app")) {
		_ = syscall.Unmount("/etc/hosts", 0)
		t.Fatal("the launcher mounted over the machine's /etc/hosts")
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	*target = ee
	return ok
}
