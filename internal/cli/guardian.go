package cli

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/supervisor"
)

// guardianCommand is the hidden command `cove up` starts beside itself: it
// kills the replicas' process groups if cove dies without stopping them.
const guardianCommand = "guardian"

func newGuardianCmd() *cobra.Command {
	return &cobra.Command{
		Use:    guardianCommand,
		Short:  "Kill the replicas of a cove that died (started by cove up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			supervisor.RunGuardian(os.Stdin, 5*time.Second)
			return nil
		},
	}
}

// guardianArgv is the command line of the guardian: this same binary.
// Without it there is no guardian; the parent-death signal still covers the
// replicas' main processes.
func guardianArgv() []string { return selfArgv(guardianCommand) }

// selfArgv is the command line that runs one of this binary's hidden
// commands, or nil when the binary cannot be found.
func selfArgv(command string) []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, command}
}
