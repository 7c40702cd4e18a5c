package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/test/internal/testenv"
)

// TestKill9LosesNoAcknowledgedState kills cove itself with SIGKILL right
// after the sidecar acknowledged a write to the embedded SQLite store, then
// starts the environment again: the write is there, and no replica of the
// killed cove is left running.
func TestKill9LosesNoAcknowledgedState(t *testing.T) {
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	e := up(t, file)
	_, err := e.cove("exec", "triage-backend", "--", "sh", "-c",
		`curl -s -f -X POST http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore -H Content-Type:application/json `+
			`-d '[{"key":"acked","value":{"kept":true}}]'`)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.done
	testenv.Poll(10*time.Second, 100*time.Millisecond, func() bool { return len(testenv.ProcessesIn(dir)) == 0 })
	if left := testenv.ProcessesIn(dir); len(left) > 0 {
		t.Errorf("replicas outlived a killed cove:\n%s", strings.Join(left, "\n"))
	}

	e = up(t, file)
	out, err := e.cove("exec", "triage-backend", "--", "sh", "-c",
		"curl -s -f http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore/acked")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != `{"kept":true}` {
		t.Fatalf("after kill -9 and restart, acked = %q, want {\"kept\":true}", out)
	}
	e.stop()
}

// TestKill9ReachesShellChildren runs the backend under a shell (a command
// with shell syntax), so the app is the shell's child, out of reach of the
// parent-death signal; after a SIGKILL of cove, the guardian must still
// stop it.
func TestKill9ReachesShellChildren(t *testing.T) {
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "command: .cove/bin/triage-backend", `command: "echo starting; .cove/bin/triage-backend"`, 1))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e := up(t, file)
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.done
	testenv.Poll(15*time.Second, 100*time.Millisecond, func() bool { return len(testenv.ProcessesIn(dir)) == 0 })
	if left := testenv.ProcessesIn(dir); len(left) > 0 {
		t.Errorf("processes outlived a killed cove:\n%s", strings.Join(left, "\n"))
	}
}
