//go:build unix

package supervisor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// StartGuardian starts the guardian as `exe args...`; that command must
// call RunGuardian on its standard input. The guardian leads a process
// group of its own, so a Ctrl-C at the terminal does not reach it.
func StartGuardian(exe string, args ...string) (*Guardian, error) {
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("guardian pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start guardian %s: %w", exe, err)
	}
	return &Guardian{w: w, cmd: cmd}, nil
}

// RunGuardian is the guardian process's body: it follows the live groups
// announced on r and, when r ends without "bye", sends each SIGTERM, then
// SIGKILL after grace. Terminal signals are ignored: only the pipe ends it.
func RunGuardian(r io.Reader, grace time.Duration) {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	guard(r, grace)
}

// guard is RunGuardian without the signal handling, for tests.
func guard(r io.Reader, grace time.Duration) {
	live := map[int]bool{}
	var atDeath [][]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "bye" {
			return
		}
		if len(line) < 2 {
			continue
		}
		if line[0] == '!' {
			var argv []string
			if json.Unmarshal([]byte(line[1:]), &argv) == nil && len(argv) > 0 {
				atDeath = append(atDeath, argv)
			}
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			live[pgid] = true
		case '-':
			delete(live, pgid)
		}
	}
	for pgid := range live {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for len(live) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for pgid := range live {
			if !groupAlive(pgid) {
				delete(live, pgid)
			}
		}
	}
	for pgid := range live {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	for _, argv := range atDeath {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "cove guardian: %v\n", err)
			continue
		}
		t := time.AfterFunc(atDeathTimeout, func() { _ = cmd.Process.Kill() })
		_ = cmd.Wait()
		t.Stop()
	}
}

// atDeathTimeout bounds each command the guardian runs after cove died.
const atDeathTimeout = 2 * time.Minute
