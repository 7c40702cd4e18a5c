package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cove-env/cove/internal/control"
)

// backgroundFlag marks the `cove up` that `cove up -d` starts.
const backgroundFlag = "background"

// upDetached runs `cove up` again in the background, in a session of its
// own and writing to .cove/up.log, shows what it writes until its summary
// (or until it exits), and returns.
func upDetached(cmd *cobra.Command, file string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot run in the background: %w", err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	logPath := filepath.Join(control.StateDir(abs), "up.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"up", "--" + backgroundFlag}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "detach" && f.Name != backgroundFlag {
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	args = append(args, cmd.Flags().Args()...)
	child := exec.Command(exe, args...)
	child.Stdout, child.Stderr = log, log
	// Its own session: the terminal's Ctrl-C and hangup do not reach it.
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return fmt.Errorf("cannot run in the background: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	out := cmd.OutOrStdout()
	shown := 0
	show := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > shown {
			_, _ = out.Write(b[shown:])
			shown = len(b)
		}
		return string(b)
	}
	for {
		select {
		case err := <-exited:
			show()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return exitError{ee.ExitCode()}
			}
			if err != nil {
				return err
			}
			return exitErrorf(1, "the environment stopped before it was up")(cmd)
		case <-time.After(100 * time.Millisecond):
		}
		if text := show(); strings.Contains(text, backgroundFooter) {
			fmt.Fprintf(out, "(pid %d; its output goes to %s)\n", child.Process.Pid, logPath)
			return nil
		}
	}
}
