package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/netns"
	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
)

// helperEnv makes the test binary act as a replica process.
const helperEnv = "SUPERVISOR_TEST_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == launcherArg {
		os.Exit(RunLauncher(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == netnsHolderArg {
		os.Exit(netns.RunHolder())
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		return
	}
	// As cove does at startup: orphans of replicas become ours to reap, so
	// tests can see them gone.
	if err := SetSubreaper(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// runHelper is the replica side of the tests.
func runHelper(mode string) {
	switch mode {
	case "listen":
		// Listen on PORT once the file TRIGGER exists, and serve 200s.
		for {
			if _, err := os.Stat(os.Getenv("TRIGGER")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("listening")
		_ = http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	case "listen-elsewhere":
		// An app with a fixed port: listen on LISTEN_AT, and on PORT only
		// once the file TRIGGER exists.
		if _, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("LISTEN_AT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for {
			if _, err := os.Stat(os.Getenv("TRIGGER")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		select {}
	case "supervise":
		// Play cove: supervise a replica, churn OS threads, wait to be killed.
		superviseAndWait()
	case "names":
		// Play cove as another user: run one replica through the launcher
		// and print what it printed.
		superviseNames()
	case "launch-in-place":
		// Run the launcher in this process's own mount namespace.
		ns, err := mountNamespace()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(RunLauncher([]string{"--hosts", os.Getenv("HOSTS"), "--outside", ns, "--", "/bin/cat", "cat", "/etc/hosts"}))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

// superviseAndWait starts a replica, then ends many OS threads (a goroutine
// that exits while locked to its thread takes the thread with it), reports
// whether the replica survived that, and waits to be killed.
func superviseAndWait() {
	// Keep the main goroutine on the main thread, which the runtime never
	// ends, so the replica is forked from a thread that could end.
	runtime.LockOSThread()
	s := New(Options{})
	err := s.Start(context.Background(), ReplicaSpec{Name: "orphan", Command: []string{"sleep", "60"}, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			runtime.LockOSThread()
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	// A replica killed by the end of its thread would be noticed within
	// moments; look for that for a while.
	st, _ := s.Status("orphan")
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end) && st.State == StateReady; {
		time.Sleep(10 * time.Millisecond)
		st, _ = s.Status("orphan")
	}
	fmt.Printf("%d %s\n", st.PID, st.State)
	select {}
}

// checkGoroutines fails the test if goroutines started during it are still
// running once it has cleaned up. Register it first: cleanups run last in,
// first out.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before the test, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder collects what a Supervisor reports.
type recorder struct {
	mu      sync.Mutex
	lines   []LogLine // Time unset; Text prefixed with the replica's name
	changes []Status
	journal []string // lines and states in the order they were reported
}

func (r *recorder) options() Options {
	return Options{
		Output: func(replica, stream string, line []byte) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.lines = append(r.lines, LogLine{Stream: stream, Text: replica + ": " + string(line)})
			r.journal = append(r.journal, replica+": "+string(line))
		},
		OnChange: func(s Status) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, s)
			r.journal = append(r.journal, s.Name+" is "+string(s.State))
		},
		BackoffInitial: 10 * time.Millisecond,
		BackoffMax:     40 * time.Millisecond,
	}
}

func (r *recorder) output() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *recorder) hasLine(text string) bool {
	return slices.ContainsFunc(r.output(), func(l LogLine) bool { return l.Text == text })
}

// states returns the replica's reported states, Ready ones marked "+".
func (r *recorder) states(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.changes {
		if s.Name == name {
			st := string(s.State)
			if s.Ready {
				st += "+"
			}
			out = append(out, st)
		}
	}
	return out
}

func (r *recorder) lastChange(name string) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.changes) - 1; i >= 0; i-- {
		if r.changes[i].Name == name {
			return r.changes[i], true
		}
	}
	return Status{}, false
}

// newSupervisor returns a supervisor whose replicas are all stopped when the
// test ends, and checks that nothing it started keeps running.
func newSupervisor(t *testing.T) (*Supervisor, *recorder) {
	t.Helper()
	checkGoroutines(t)
	rec := &recorder{}
	s := New(rec.options())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.StopAll(ctx); err != nil {
			t.Errorf("StopAll: %v", err)
		}
		if l := s.List(); len(l) != 0 {
			t.Errorf("replicas left after StopAll: %v", l)
		}
	})
	return s, rec
}

func shell(name, script string) ReplicaSpec {
	return ReplicaSpec{
		Name: name, App: "app", Revision: "app--1",
		Command:          []string{script},
		Shell:            true,
		Env:              []string{"PATH=" + os.Getenv("PATH")},
		TerminationGrace: 5 * time.Second,
	}
}

func status(t *testing.T, s *Supervisor, name string) Status {
	t.Helper()
	st, ok := s.Status(name)
	if !ok {
		t.Fatalf("no status for %q", name)
	}
	return st
}

func TestOutputStreams(t *testing.T) {
	s, rec := newSupervisor(t)
	spec := shell("out", `echo one; echo two >&2; printf 'three\r\nfour'; echo; exec sleep 60`)
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	// With no probes a running replica is ready at once.
	if st := status(t, s, "out"); st.State != StateReady || !st.Ready || st.PID == 0 {
		t.Errorf("status right after Start = %+v, want Ready with a PID", st)
	}
	waitFor(t, "four lines", func() bool { return len(rec.output()) == 4 })

	want := []LogLine{
		{Stream: "stdout", Text: "out: one"},
		{Stream: "stderr", Text: "out: two"},
		{Stream: "stdout", Text: "out: three"},
		{Stream: "stdout", Text: "out: four"},
	}
	byStream := func(a, b LogLine) int { return strings.Compare(a.Stream, b.Stream) }
	got := rec.output()
	// The two streams are read concurrently: only each stream's order is kept.
	slices.SortStableFunc(got, byStream)
	slices.SortStableFunc(want, byStream)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	logs := s.Logs("out", 0)
	var kept []string
	for _, l := range logs {
		kept = append(kept, l.Stream+" "+l.Text)
		if l.Time.IsZero() {
			t.Errorf("line %q without a time", l.Text)
		}
	}
	slices.Sort(kept)
	if diff := cmp.Diff([]string{"stderr two", "stdout four", "stdout one", "stdout three"}, kept); diff != "" {
		t.Errorf("kept lines (-want +got):\n%s", diff)
	}
	if got := s.Logs("out", 1); len(got) != 1 || got[0] != logs[len(logs)-1] {
		t.Errorf("Logs(out, 1) = %v, want the last line of %v", got, logs)
	}
	if got := s.Logs("nobody", 0); got != nil {
		t.Errorf("Logs of an unknown replica = %v", got)
	}

	// A line added for the replica, as its sidecar's are, joins both.
	s.AddLine("out", "dapr", []byte("HTTP API Called"))
	s.AddLine("nobody", "dapr", []byte("dropped"))
	if got := s.Logs("out", 1); len(got) != 1 || got[0].Stream != "dapr" || got[0].Text != "HTTP API Called" {
		t.Errorf("last line after AddLine = %v", got)
	}
	if got := rec.output(); len(got) != 5 || got[4] != (LogLine{Stream: "dapr", Text: "out: HTTP API Called"}) {
		t.Errorf("output after AddLine = %v", got)
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	opts := rec.options()
	opts.MaxLineBytes = 100
	opts.LogLines = 3
	s := New(opts)
	defer s.StopAll(context.Background())
	// 250 x's, then a short line, then more lines than the ring keeps.
	spec := shell("long", `head -c 250 /dev/zero | tr '\0' x; echo; echo end; echo a; echo b; exec sleep 60`)
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last line", func() bool { return rec.hasLine("long: b") })
	var got []int
	for _, l := range rec.output() {
		got = append(got, len(strings.TrimPrefix(l.Text, "long: ")))
	}
	if diff := cmp.Diff([]int{100, 100, 50, 3, 1, 1}, got); diff != "" {
		t.Errorf("line lengths (-want +got):\n%s", diff)
	}
	var kept []string
	for _, l := range s.Logs("long", 0) {
		kept = append(kept, l.Text)
	}
	if diff := cmp.Diff([]string{"end", "a", "b"}, kept); diff != "" {
		t.Errorf("kept lines (-want +got):\n%s", diff)
	}
}

func TestEnvAndDir(t *testing.T) {
	s, rec := newSupervisor(t)
	dir := t.TempDir()
	spec := shell("env", `echo "greeting=$GREETING"; echo "home=${HOME:-unset}"; echo "args=$0 $1 $2"; pwd -P; exec sleep 60`)
	spec.Command = append(spec.Command, "first", "second")
	spec.Env = append(spec.Env, "GREETING=hello")
	spec.Dir = dir
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the directory", func() bool { return rec.hasLine("env: " + real) })
	// HOME is set for the tests' own process but not passed: nothing of
	// cove's environment leaks into a replica.
	for _, want := range []string{"env: greeting=hello", "env: home=unset", "env: args=env first second"} {
		if !rec.hasLine(want) {
			t.Errorf("no line %q in %v", want, rec.output())
		}
	}
}

func TestCommandFromReplicaPath(t *testing.T) {
	s, rec := newSupervisor(t)
	bin := t.TempDir()
	script := filepath.Join(bin, "hello-app")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello from $1\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := s.Start(t.Context(), ReplicaSpec{
		Name:    "path",
		Command: []string{"hello-app", "path"},
		Env:     []string{"PATH=" + bin + ":/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "its greeting", func() bool { return rec.hasLine("path: hello from path") })
}

func TestStartErrors(t *testing.T) {
	s, _ := newSupervisor(t)
	if err := s.Start(t.Context(), shell("taken", "exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		spec ReplicaSpec
		want []string // substrings of the error
	}{
		{
			name: "missing program",
			spec: ReplicaSpec{Name: "bad", Command: []string{"/nonexistent/server", "--port", "8080"}, Dir: dir},
			want: []string{`"bad"`, `["/nonexistent/server" "--port" "8080"]`, strconv.Quote(dir), "no such file or directory"},
		},
		{
			name: "program not in PATH",
			spec: ReplicaSpec{Name: "bad", Command: []string{"no-such-program-here"}, Env: []string{"PATH=" + dir}},
			want: []string{`["no-such-program-here"]`, `in directory "."`, "executable file not found"},
		},
		{
			name: "missing directory",
			spec: ReplicaSpec{Name: "bad", Command: []string{"/bin/sh", "-c", "true"}, Dir: filepath.Join(dir, "missing")},
			want: []string{strconv.Quote(filepath.Join(dir, "missing")), "no such file or directory"},
		},
		{
			name: "not executable",
			spec: ReplicaSpec{Name: "bad", Command: []string{"./data.txt"}, Dir: dir},
			want: []string{`["./data.txt"]`, "permission denied"},
		},
		{
			name: "invalid spec",
			spec: ReplicaSpec{Name: "bad"},
			want: []string{"command is empty"},
		},
		{
			name: "name in use",
			spec: shell("taken", "true"),
			want: []string{`"taken"`, "already running"},
		},
	}
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Start(t.Context(), tt.spec)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, ok := s.Status("bad"); ok {
				t.Errorf("a replica that did not start is listed")
			}
		})
	}
	if got := len(s.List()); got != 1 {
		t.Errorf("%d replicas listed, want 1", got)
	}
	if err := s.Stop(t.Context(), "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop(nobody) = %v, want ErrNotFound", err)
	}
}

// alive reports whether a process exists, zombie or not: the subreaper
// reaps them, so a dead one does not linger.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestStopKillsTheGroupAfterGrace(t *testing.T) {
	s, rec := newSupervisor(t)
	// The shell exits on SIGTERM; its child ignores it and must be killed.
	spec := shell("group", `sh -c 'trap "" TERM; echo child $$; while :; do sleep 0.05; done' & wait`)
	spec.TerminationGrace = 300 * time.Millisecond
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	var child int
	waitFor(t, "the child's pid", func() bool {
		for _, l := range rec.output() {
			if n, ok := strings.CutPrefix(l.Text, "group: child "); ok {
				child, _ = strconv.Atoi(n)
				return true
			}
		}
		return false
	})
	leader := status(t, s, "group").PID

	begin := time.Now()
	if err := s.Stop(t.Context(), "group"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < spec.TerminationGrace {
		t.Errorf("Stop returned after %v, before the grace period of %v ended", took, spec.TerminationGrace)
	}
	for _, pid := range []int{leader, child} {
		if alive(pid) {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	if _, ok := s.Status("group"); ok {
		t.Errorf("stopped replica still listed")
	}
	waitFor(t, "the Stopped status", func() bool {
		st, _ := rec.lastChange("group")
		return st.State == StateStopped
	})
	if st, _ := rec.lastChange("group"); st.LastExit != "signal: terminated" || st.Ready || st.PID != 0 {
		t.Errorf("last status = %+v, want stopped by SIGTERM", st)
	}
}

func TestStopEndsEarlyWhenTheGroupExits(t *testing.T) {
	s, rec := newSupervisor(t)
	spec := shell("quick", `trap 'exit 0' TERM; echo up; while :; do sleep 0.05; done`)
	spec.TerminationGrace = time.Hour
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trap", func() bool { return rec.hasLine("quick: up") })
	// A deadline far below the grace period: Stop must not need it.
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	if err := s.Stop(ctx, "quick"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestStopKillsWhenContextEnds(t *testing.T) {
	s, rec := newSupervisor(t)
	spec := shell("stubborn", `trap '' TERM; echo up; while :; do sleep 0.05; done`)
	spec.TerminationGrace = time.Hour
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trap", func() bool { return rec.hasLine("stubborn: up") })
	pid := status(t, s, "stubborn").PID
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Stop(ctx, "stubborn"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop = %v, want context.Canceled", err)
	}
	waitFor(t, "the replica to go", func() bool { _, ok := s.Status("stubborn"); return !ok })
	if alive(pid) {
		t.Errorf("process %d survived", pid)
	}
	waitFor(t, "the Stopped status", func() bool {
		st, _ := rec.lastChange("stubborn")
		return st.State == StateStopped
	})
	if st, _ := rec.lastChange("stubborn"); st.LastExit != "signal: killed" {
		t.Errorf("last status = %+v, want stopped by SIGKILL", st)
	}
}

func TestRestartWithBackoff(t *testing.T) {
	s, rec := newSupervisor(t)
	if err := s.Start(t.Context(), shell("crash", `echo run; exit 3`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three restarts", func() bool { return status(t, s, "crash").Restarts >= 3 })
	st := status(t, s, "crash")
	if st.LastExit != "exit status 3" {
		t.Errorf("LastExit = %q, want exit status 3", st.LastExit)
	}
	if runs := len(rec.output()); runs < 3 {
		t.Errorf("%d runs seen in the output, want at least 3", runs)
	}
	if len(s.Logs("crash", 0)) < 3 {
		t.Errorf("logs do not survive restarts: %v", s.Logs("crash", 0))
	}
	// Each run: ready (no probes), then backoff, then starting again.
	want := []string{"Ready+", "Restarting", "Starting", "Ready+", "Restarting", "Starting"}
	waitFor(t, "the changes to be reported", func() bool { return len(rec.states("crash")) >= len(want) })
	states := rec.states("crash")
	if len(states) < len(want) || !slices.Equal(states[:len(want)], want) {
		t.Errorf("states = %v, want them to begin with %v", states, want)
	}
}

// TestRestartOnRequest restarts a running replica gracefully (its
// SIGTERM handler runs) and at once, though its backoff is an hour.
func TestRestartOnRequest(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	opts := rec.options()
	opts.BackoffInitial = time.Hour
	s := New(opts)
	t.Cleanup(func() { _ = s.StopAll(context.Background()) })
	if err := s.Start(t.Context(), shell("web", `echo "run $$"; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first run", func() bool { return len(s.Logs("web", 0)) >= 1 })
	first := status(t, s, "web").PID
	if err := s.Restart("web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run", func() bool {
		st := status(t, s, "web")
		return st.State == StateReady && st.PID != first && st.PID != 0
	})
	var texts []string
	for _, l := range s.Logs("web", 0) {
		if w := strings.Fields(l.Text); len(w) > 0 && (w[0] == "run" || w[0] == "bye") {
			texts = append(texts, w[0])
		}
	}
	if !slices.Equal(texts, []string{"run", "bye", "run"}) {
		t.Errorf("lines = %q, want a graceful stop between two runs", texts)
	}
	if st := status(t, s, "web"); st.LastExit != "restarted on request (exit status 0)" {
		t.Errorf("LastExit = %q", st.LastExit)
	}
	if err := s.Restart("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Restart of an unknown replica: %v", err)
	}
}

func TestStopDuringBackoff(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	opts := rec.options()
	opts.BackoffInitial = time.Hour
	s := New(opts)
	if err := s.Start(t.Context(), shell("once", `exit 1`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backoff", func() bool { return status(t, s, "once").State == StateRestarting })
	if err := s.StopAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Stopped status", func() bool {
		st, _ := rec.lastChange("once")
		return st.State == StateStopped
	})
}

func TestReadinessByTCP(t *testing.T) {
	s, rec := newSupervisor(t)
	port := testaddr.FreePort(t)
	trigger := filepath.Join(t.TempDir(), "listen-now")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start(t.Context(), ReplicaSpec{
		Name:    "tcp",
		Command: []string{self},
		Env:     []string{helperEnv + "=listen", "PORT=" + strconv.Itoa(port), "TRIGGER=" + trigger},
		Probes: []Probe{{
			Type:      Readiness,
			TCPSocket: &TCPSocketAction{Port: port},
			Period:    20 * time.Millisecond,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failing probe", func() bool { return status(t, s, "tcp").Message != "" })
	if st := status(t, s, "tcp"); st.Ready || st.State != StateRunning || !strings.Contains(st.Message, "refused") {
		t.Errorf("status before the helper listens = %+v, want running, not ready, with the probe's error", st)
	}
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readiness", func() bool { return status(t, s, "tcp").Ready })
	if !rec.hasLine("tcp: listening") {
		t.Errorf("ready before the helper listened")
	}
	if st := status(t, s, "tcp"); st.State != StateReady || st.Message != "" {
		t.Errorf("status = %+v, want Ready without a message", st)
	}
}

// TestAppListeningElsewhere checks that a replica whose processes listen on
// another port than its PORT says so, in its status and in a warning, and
// stops saying so once it listens on PORT.
func TestAppListeningElsewhere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("listening ports are read from /proc")
	}
	checkGoroutines(t)
	rec := &recorder{}
	var logs testlog.Buffer
	opts := rec.options()
	opts.PortCheck = 20 * time.Millisecond
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.StopAll(ctx)
	})
	port, elsewhere := testaddr.FreePort(t), testaddr.FreePort(t)
	trigger := filepath.Join(t.TempDir(), "listen-now")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The listener is a child of the replica's main process, as with a
	// shell script or `npm start`.
	spec := shell("fixed", `"$SELF" & wait`)
	spec.Port = port
	spec.Env = append(spec.Env, "SELF="+self, helperEnv+"=listen-elsewhere", "LISTEN_AT="+strconv.Itoa(elsewhere),
		"PORT="+strconv.Itoa(port), "TRIGGER="+trigger)
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other port reported", func() bool { return len(status(t, s, "fixed").ListenPorts) > 0 })
	if st := status(t, s, "fixed"); !slices.Equal(st.ListenPorts, []int{elsewhere}) || st.Port != port {
		t.Errorf("status = %+v, want ListenPorts [%d] and Port %d", st, elsewhere, port)
	}
	// Changes reach the callback from the supervisor's own goroutine, after
	// the status has changed.
	waitFor(t, "the change reported", func() bool {
		c, _ := rec.lastChange("fixed")
		return slices.Equal(c.ListenPorts, []int{elsewhere})
	})
	for _, want := range []string{"level=WARN", "listens on " + strconv.Itoa(elsewhere), "PORT=" + strconv.Itoa(port), "PORT environment variable"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report cleared", func() bool { return status(t, s, "fixed").ListenPorts == nil })
	waitFor(t, "the cleared report delivered", func() bool {
		c, _ := rec.lastChange("fixed")
		return c.ListenPorts == nil
	})
}

// flipServer answers with whatever status it is set to and counts requests.
type flipServer struct {
	*httptest.Server
	status   atomic.Int32
	requests atomic.Int32
}

func newFlipServer(t *testing.T, status int) *flipServer {
	f := &flipServer{}
	f.status.Store(int32(status))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flipServer) port() int { return f.Listener.Addr().(*net.TCPAddr).Port }

// waitRequests waits for n more requests than the server has seen so far.
func (f *flipServer) waitRequests(t *testing.T, n int) {
	t.Helper()
	target := f.requests.Load() + int32(n)
	waitFor(t, fmt.Sprintf("%d probe requests", n), func() bool { return f.requests.Load() >= target })
}

func TestReadinessByHTTP(t *testing.T) {
	s, rec := newSupervisor(t)
	srv := newFlipServer(t, http.StatusServiceUnavailable)
	spec := shell("http", "exec sleep 60")
	spec.Probes = []Probe{{
		Type:             Readiness,
		HTTPGet:          &HTTPGetAction{Port: srv.port(), Path: "/ready"},
		Period:           20 * time.Millisecond,
		FailureThreshold: 2,
	}}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	srv.waitRequests(t, 3)
	if st := status(t, s, "http"); st.Ready {
		t.Fatalf("ready while the probe answers 503: %+v", st)
	}
	srv.status.Store(http.StatusOK)
	waitFor(t, "readiness", func() bool { return status(t, s, "http").Ready })
	srv.status.Store(http.StatusInternalServerError)
	waitFor(t, "unreadiness", func() bool { return !status(t, s, "http").Ready })
	if st := status(t, s, "http"); st.State != StateRunning || !strings.Contains(st.Message, "status 500") || st.Restarts != 0 {
		t.Errorf("status = %+v, want running, not ready because of the 500, not restarted", st)
	}
	srv.status.Store(http.StatusFound)
	waitFor(t, "readiness again", func() bool { return status(t, s, "http").Ready })
	want := []string{"Running", "Ready+", "Running", "Ready+"}
	waitFor(t, "the changes to be reported", func() bool { return len(rec.states("http")) >= len(want) })
	if diff := cmp.Diff(want, rec.states("http")); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestLivenessFailureRestarts(t *testing.T) {
	s, rec := newSupervisor(t)
	srv := newFlipServer(t, http.StatusOK)
	spec := shell("live", "echo started; exec sleep 60")
	spec.TerminationGrace = 2 * time.Second
	spec.Probes = []Probe{{
		Type:             Liveness,
		HTTPGet:          &HTTPGetAction{Port: srv.port(), Path: "/live"},
		Period:           20 * time.Millisecond,
		FailureThreshold: 2,
	}}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	first := status(t, s, "live")
	if !first.Ready {
		t.Errorf("a liveness probe alone must not hold readiness back: %+v", first)
	}
	srv.waitRequests(t, 3)
	if st := status(t, s, "live"); st.Restarts != 0 || st.PID != first.PID {
		t.Fatalf("restarted while live: %+v", st)
	}
	srv.status.Store(http.StatusInternalServerError)
	waitFor(t, "a restart", func() bool { return status(t, s, "live").Restarts >= 1 })
	srv.status.Store(http.StatusOK)
	waitFor(t, "the new process", func() bool { st := status(t, s, "live"); return st.Ready && st.PID != 0 })
	st := status(t, s, "live")
	if st.PID == first.PID {
		t.Errorf("same PID %d after a restart", st.PID)
	}
	if !strings.HasPrefix(st.LastExit, "liveness probe failed:") || !strings.Contains(st.LastExit, "status 500") || !strings.HasSuffix(st.LastExit, "(signal: terminated)") {
		t.Errorf("LastExit = %q, want the liveness failure and SIGTERM", st.LastExit)
	}
	if alive(first.PID) {
		t.Errorf("the failed process %d is still there", first.PID)
	}
	waitFor(t, "the second start's output", func() bool {
		return len(slices.DeleteFunc(rec.output(), func(l LogLine) bool { return l.Text != "live: started" })) >= 2
	})
}

func TestStartupProbeGates(t *testing.T) {
	s, _ := newSupervisor(t)
	startup := newFlipServer(t, http.StatusServiceUnavailable)
	ready := newFlipServer(t, http.StatusOK)
	live := newFlipServer(t, http.StatusInternalServerError)
	spec := shell("slow", "exec sleep 60")
	spec.Probes = []Probe{
		{Type: Startup, HTTPGet: &HTTPGetAction{Port: startup.port()}, Period: 20 * time.Millisecond, FailureThreshold: 1000},
		{Type: Readiness, HTTPGet: &HTTPGetAction{Port: ready.port()}, Period: 20 * time.Millisecond},
		{Type: Liveness, HTTPGet: &HTTPGetAction{Port: live.port()}, Period: 20 * time.Millisecond, FailureThreshold: 1, InitialDelay: time.Hour},
	}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	startup.waitRequests(t, 3)
	if n := ready.requests.Load(); n != 0 {
		t.Errorf("readiness probed %d times before startup succeeded", n)
	}
	if st := status(t, s, "slow"); st.Ready || st.State != StateRunning {
		t.Errorf("status before startup = %+v, want running, not ready", st)
	}
	startup.status.Store(http.StatusOK)
	waitFor(t, "readiness", func() bool { return status(t, s, "slow").Ready })
	n := startup.requests.Load()
	ready.waitRequests(t, 2)
	if startup.requests.Load() != n {
		t.Errorf("startup probed again after it succeeded")
	}
	// The liveness probe would fail at once, but its initial delay counts
	// from the process start.
	if st := status(t, s, "slow"); st.Restarts != 0 || live.requests.Load() != 0 {
		t.Errorf("liveness ran before its initial delay: %+v", st)
	}
}

func TestStartupFailureRestarts(t *testing.T) {
	s, _ := newSupervisor(t)
	spec := shell("never", "exec sleep 60")
	spec.Probes = []Probe{{Type: Startup, TCPSocket: &TCPSocketAction{Port: testaddr.FreePort(t)}, Period: 10 * time.Millisecond, FailureThreshold: 2}}
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a restart", func() bool { return status(t, s, "never").Restarts >= 1 })
	if st := status(t, s, "never"); !strings.HasPrefix(st.LastExit, "startup probe failed:") || st.Ready {
		t.Errorf("status = %+v, want a startup failure and not ready", st)
	}
}

func TestStopAllInParallel(t *testing.T) {
	s, rec := newSupervisor(t)
	const grace = 700 * time.Millisecond
	names := []string{"a", "b", "c"}
	for _, name := range names {
		spec := shell(name, `trap 'echo term' TERM; echo up; while :; do sleep 0.05; done`)
		spec.TerminationGrace = grace
		if err := s.Start(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all traps", func() bool {
		return rec.hasLine("a: up") && rec.hasLine("b: up") && rec.hasLine("c: up")
	})
	begin := time.Now()
	if err := s.StopAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	if took < grace {
		t.Errorf("StopAll took %v, less than the grace period the replicas ignore SIGTERM for", took)
	}
	waitFor(t, "three Stopped statuses", func() bool {
		return slices.Contains(rec.states("a"), "Stopped") && slices.Contains(rec.states("b"), "Stopped") && slices.Contains(rec.states("c"), "Stopped")
	})
	for _, name := range names {
		if !rec.hasLine(name + ": term") {
			t.Errorf("%s did not get SIGTERM", name)
		}
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("List after StopAll = %v", l)
	}
	// Stopped one after another, a replica would get SIGTERM only once the
	// one before it had outlived its grace period and been stopped.
	rec.mu.Lock()
	journal := slices.Clone(rec.journal)
	rec.mu.Unlock()
	firstStopped := slices.IndexFunc(journal, func(e string) bool { return strings.HasSuffix(e, " is Stopped") })
	for _, name := range names {
		if i := slices.Index(journal, name+": term"); i > firstStopped {
			t.Errorf("%s got SIGTERM after a replica had stopped: %v", name, journal)
		}
	}
}

func TestOnChangeMayCallBack(t *testing.T) {
	checkGoroutines(t)
	var (
		s       *Supervisor
		stopped = make(chan error, 1)
	)
	s = New(Options{OnChange: func(st Status) {
		if st.State == StateReady {
			// Stopping from the callback must not deadlock.
			stopped <- s.Stop(context.Background(), st.Name)
		}
	}})
	if err := s.Start(t.Context(), shell("cb", "exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop from OnChange did not return")
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("List = %v", l)
	}
}

// gone reports whether a process has ended, reaping it if it had become a
// child of this (subreaper) process.
func gone(pid int) bool {
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestReplicaDiesWithCove(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signals are Linux only")
	}
	cove := exec.Command(os.Args[0])
	cove.Env = append(os.Environ(), helperEnv+"=supervise")
	cove.Stderr = os.Stderr
	out, err := cove.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cove.Start(); err != nil {
		t.Fatal(err)
	}
	defer cove.Wait()
	defer cove.Process.Kill()
	var pid int
	var state State
	if _, err := fmt.Fscan(out, &pid, &state); err != nil {
		t.Fatalf("reading the replica's pid: %v", err)
	}
	if state != StateReady || pid == 0 {
		t.Fatalf("replica %s (pid %d) after its supervisor's threads came and went, want still Ready", state, pid)
	}
	// SIGKILL: nothing in the supervisor runs, only the kernel can act.
	if err := cove.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica to die with its supervisor", func() bool { return gone(pid) })
}
