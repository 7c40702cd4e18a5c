package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testuser"
)

// The test binary is also the holder of namespaces made without root, and
// an app that listens on a port given as its argument.
const (
	holderArg = "netns-holder"
	appArg    = "netns-app"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == holderArg {
		os.Exit(RunHolder())
	}
	if len(os.Args) > 2 && os.Args[1] == appArg {
		os.Exit(runApp(os.Args[2]))
	}
	os.Exit(m.Run())
}

// runApp listens on addr, writes the file $WRITE, says "listening" and
// answers each connection as echo("app") does.
func runApp(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		err = os.WriteFile(os.Getenv("WRITE"), []byte("app"), 0o644)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() { defer c.Close(); echo("app")(c) }()
	}
}

// TestWithoutRoot runs this package's namespace tests as another user
// than root, where namespaces are made in a user namespace.
func TestWithoutRoot(t *testing.T) {
	testuser.Rerun(t, "^Test(NamespacesIsolate|ForwardReaches|ProcessesStartedInside|AppBindsPort80|RefusedWithoutNsenter)")
}

// newNS makes a namespace closed with the test; it skips where the kernel
// refuses one (not root, no user namespaces).
func newNS(t *testing.T) *Namespace {
	t.Helper()
	ns, err := New([]string{os.Args[0], holderArg})
	if errors.Is(err, ErrRefused) {
		t.Skipf("no network namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	if owned := ns.Command(nil) != nil; owned != (os.Geteuid() != 0) {
		t.Fatalf("as user %d, a namespace in a user namespace is %v", os.Geteuid(), owned)
	}
	return ns
}

// startInside starts argv inside ns, as the supervisor does: forked from a
// thread inside, or through the namespace's command.
func startInside(t *testing.T, ns *Namespace, argv []string, env ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	if wrapped := ns.Command(argv); wrapped != nil {
		argv = wrapped
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if ns.Command(argv) != nil {
		err = cmd.Start()
	} else {
		err = ns.Do(cmd.Start)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// echo answers each line on c with the line prefixed by name.
func echo(name string) func(net.Conn) {
	return func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			fmt.Fprintf(c, "%s: %s\n", name, sc.Text())
		}
	}
}

// ask sends line on c and returns the answer.
func ask(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	defer c.Close()
	fmt.Fprintln(c, line)
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", line, err)
	}
	return strings.TrimSpace(answer)
}

// listenIn listens on addr inside ns and serves each connection with serve.
func listenIn(t *testing.T, ns *Namespace, addr string, serve func(net.Conn)) {
	t.Helper()
	ln, err := ns.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	testaddr.ServeListener(t, ln, serve)
}

func TestNamespacesIsolateTheSamePort(t *testing.T) {
	a, b := newNS(t), newNS(t)
	if a.ID() == b.ID() || a.ID() == "" {
		t.Fatalf("namespaces %q and %q", a.ID(), b.ID())
	}
	// Both listen on 8000 of their own loopback, which is up.
	listenIn(t, a, "127.0.0.1:8000", echo("a"))
	listenIn(t, b, "0.0.0.0:8000", echo("b"))
	for _, tc := range []struct {
		ns   *Namespace
		want string
	}{{a, "a: hi"}, {b, "b: hi"}} {
		c, err := tc.ns.DialContext(t.Context(), "tcp", "127.0.0.1:8000")
		if err != nil {
			t.Fatal(err)
		}
		if got := ask(t, c, "hi"); got != tc.want {
			t.Errorf("answer %q, want %q", got, tc.want)
		}
	}
	if _, err := a.DialContext(t.Context(), "tcp", "localhost:8000"); err == nil {
		t.Error("a name was dialled; only addresses are, on the namespace's thread")
	}
}

func TestForwardReachesTheMachineAndExposeReachesInside(t *testing.T) {
	ns := newNS(t)
	log := slog.New(slog.DiscardHandler)
	machine := testaddr.Serve(t, echo("machine"))
	stop, err := ns.Forward([]Forward{{Listen: "127.0.0.1:3500", Target: machine}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := ns.DialContext(t.Context(), "tcp", "127.0.0.1:3500")
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "in"); got != "machine: in" {
		t.Errorf("inside, 3500 answered %q; want the machine's server", got)
	}

	listenIn(t, ns, ":8000", echo("app"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopExpose := ns.Expose(ln, "127.0.0.1:8000", log)
	defer stopExpose()
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "out"); got != "app: out" {
		t.Errorf("from the machine, the exposed port answered %q; want the app inside", got)
	}

	// stop closes the machine's end.
	stopExpose()
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the machine's end still accepts after stop")
	}
}

func TestProcessesStartedInsideHaveTheNamespace(t *testing.T) {
	ns := newNS(t)
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := startInside(t, ns, []string{cat, "/proc/self/net/dev"})
	b, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The machine has more interfaces than lo; the namespace has only it.
	var ifaces []string
	for _, l := range strings.Split(string(b), "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			ifaces = append(ifaces, name)
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("a process started inside sees interfaces %v; want only lo", ifaces)
	}
	// This goroutine's thread is back home.
	own, _ := os.Readlink("/proc/thread-self/ns/net")
	if own == ns.ID() {
		t.Error("the caller's thread was left in the namespace")
	}
}

// TestAppBindsPort80Inside: an app started inside listens on port 80, as
// ACA's apps do, and the file it writes belongs to this user; a relay
// listens on a port below 1024 inside too.
func TestAppBindsPort80Inside(t *testing.T) {
	ns := newNS(t)
	written := filepath.Join(t.TempDir(), "written")
	cmd, out := startInside(t, ns, []string{os.Args[0], appArg, ":80"}, "WRITE="+written)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "listening\n" {
		t.Fatalf("the app inside said %q, want listening on :80", line)
	}
	c, err := ns.DialContext(t.Context(), "tcp", "127.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "hi"); got != "app: hi" {
		t.Errorf("port 80 inside answered %q", got)
	}
	// The app's namespace, opened by its process's path as cove exec
	// does, is the same, and its processes join it the same way.
	opened, err := Open(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	if opened.ID() != ns.ID() || (opened.Command(nil) != nil) != (ns.Command(nil) != nil) {
		t.Errorf("opened by path, the namespace is %s (joined by a command: %v), want %s (%v)",
			opened.ID(), opened.Command(nil) != nil, ns.ID(), ns.Command(nil) != nil)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(written, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
		t.Errorf("the app's file belongs to %d:%d, want this user, %d:%d", st.Uid, st.Gid, os.Getuid(), os.Getgid())
	}

	machine := testaddr.Serve(t, echo("machine"))
	stop, err := ns.Forward([]Forward{{Listen: "127.0.0.1:443", Target: machine}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if c, err = ns.DialContext(t.Context(), "tcp", "127.0.0.1:443"); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "in"); got != "machine: in" {
		t.Errorf("inside, 443 answered %q; want the machine's server", got)
	}
	// A refused dial inside is an error, as probes need.
	if _, err := ns.DialContext(t.Context(), "tcp", "127.0.0.1:81"); err == nil {
		t.Error("a dial to a closed port inside succeeded")
	}
}

// TestRefusedWithoutNsenter: without root, a namespace needs nsenter to
// start processes in; without it New refuses and says what to install.
func TestRefusedWithoutNsenter(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root makes namespaces without nsenter; TestWithoutRoot runs this as another user")
	}
	t.Setenv("PATH", t.TempDir())
	ns, err := New([]string{os.Args[0], holderArg})
	if err == nil {
		ns.Close()
		t.Fatal("a namespace was made without nsenter")
	}
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "install util-linux") || !strings.Contains(err.Error(), "user.max_user_namespaces") {
		t.Errorf("New = %v; want the refusal naming the sysctl and util-linux", err)
	}
}

// BenchmarkDialInside compares opening and closing a connection to a
// listener inside a namespace, as the relay to a replica's app does for each
// connection the edge hands it (from a thread inside as root, through the
// holder otherwise), with the same dial and close to a listener on the
// machine's own loopback. Each iteration does one of each; inside/machine
// is what entering the namespace (or the round trip to the holder) adds to
// a loopback dial.
func BenchmarkDialInside(b *testing.B) {
	ns, err := New([]string{os.Args[0], holderArg})
	if errors.Is(err, ErrRefused) {
		b.Skipf("no network namespace here: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	inside, err := ns.Listen("127.0.0.1:8000")
	if err != nil {
		b.Fatal(err)
	}
	defer inside.Close()
	machine, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer machine.Close()
	for _, ln := range []net.Listener{inside, machine} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	var d net.Dialer
	dial := func(dial func(context.Context, string, string) (net.Conn, error), addr string) time.Duration {
		start := time.Now()
		c, err := dial(b.Context(), "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		return time.Since(start)
	}
	var tMachine, tInside time.Duration
	n := 0
	for b.Loop() {
		tMachine += dial(d.DialContext, machine.Addr().String())
		tInside += dial(ns.DialContext, "127.0.0.1:8000")
		n++
	}
	b.ReportMetric(float64(tMachine.Nanoseconds())/float64(n), "machine-ns/dial")
	b.ReportMetric(float64(tInside.Nanoseconds())/float64(n), "inside-ns/dial")
	b.ReportMetric(float64(tInside)/float64(tMachine), "inside/machine")
}
