//go:build unix

package supervisor

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// startGroup starts a shell leading its own process group with a child
// that ignores SIGTERM, so only SIGKILL ends the group.
func startGroup(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "trap '' TERM; sleep 60 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	return pgid
}

// groupExists reaps and ignores zombies, which a subreaper test process may hold.
func groupExists(pgid int) bool { return groupAlive(pgid) }

func TestGuardian(t *testing.T) {
	tests := []struct {
		name     string
		script   func(a, b int) string
		wantDead [2]bool
	}{
		{
			name:     "the pipe closes without a goodbye: every live group is killed",
			script:   func(a, b int) string { return "+" + strconv.Itoa(a) + "\n+" + strconv.Itoa(b) + "\n" },
			wantDead: [2]bool{true, true},
		},
		{
			name: "a group reported gone is left alone",
			script: func(a, b int) string {
				return "+" + strconv.Itoa(a) + "\n+" + strconv.Itoa(b) + "\n-" + strconv.Itoa(b) + "\n"
			},
			wantDead: [2]bool{true, false},
		},
		{
			name:     "a clean goodbye kills nothing",
			script:   func(a, b int) string { return "+" + strconv.Itoa(a) + "\n+" + strconv.Itoa(b) + "\nbye\n" },
			wantDead: [2]bool{false, false},
		},
		{
			name:     "garbage lines are ignored",
			script:   func(a, b int) string { return "x\n+\n+1\n+abc\n+" + strconv.Itoa(a) + "\n" },
			wantDead: [2]bool{true, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startGroup(t), startGroup(t)
			r, w := io.Pipe()
			done := make(chan struct{})
			go func() { guard(r, 200*time.Millisecond); close(done) }()
			_, _ = io.WriteString(w, tc.script(a, b))
			w.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("guardian did not return")
			}
			for i, pgid := range []int{a, b} {
				deadline := time.Now().Add(5 * time.Second)
				for tc.wantDead[i] && groupExists(pgid) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if dead := !groupExists(pgid); dead != tc.wantDead[i] {
					t.Errorf("group %d dead = %v, want %v", i, dead, tc.wantDead[i])
				}
			}
		})
	}
}

// TestGuardianAtDeath: the commands AtDeath names run when the pipe closes
// without a goodbye, and not after one.
func TestGuardianAtDeath(t *testing.T) {
	for _, bye := range []bool{false, true} {
		file := filepath.Join(t.TempDir(), "ran")
		r, w := io.Pipe()
		done := make(chan struct{})
		go func() { guard(r, 200*time.Millisecond); close(done) }()
		g := &Guardian{w: w}
		g.AtDeath([]string{"/bin/sh", "-c", "echo x > " + file})
		if bye {
			g.send("bye")
		}
		w.Close()
		<-done
		_, err := os.Stat(file)
		if ran := err == nil; ran == bye {
			t.Errorf("after a goodbye %t, the command ran: %t", bye, ran)
		}
	}
}
