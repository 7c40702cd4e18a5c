package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/testaddr"
)

// newNS makes a namespace closed with the test; it skips where the kernel
// refuses one (not root).
func newNS(t *testing.T) *Namespace {
	t.Helper()
	ns, err := New()
	if errors.Is(err, ErrRefused) {
		t.Skipf("no network namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
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
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
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
	var cmd *exec.Cmd
	var out io.ReadCloser
	err := ns.Do(func() (err error) {
		cmd = exec.Command("cat", "/proc/self/net/dev")
		if out, err = cmd.StdoutPipe(); err != nil {
			return err
		}
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
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
