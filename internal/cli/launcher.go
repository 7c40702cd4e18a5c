package cli

import (
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/supervisor"
)

// launcherCommand is the hidden command replicas start through, so that
// they resolve the environment's app names (see supervisor.RunLauncher).
const launcherCommand = "replica-launcher"

func newLauncherCmd() *cobra.Command {
	return &cobra.Command{
		Use:    launcherCommand,
		Short:  "Start a replica with the environment's hosts file (run by cove up)",
		Hidden: true,
		// Everything after the command belongs to the launcher and the
		// replica's own command line.
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			os.Exit(supervisor.RunLauncher(args))
		},
	}
}

// launcherArgv is the launcher's command line: this same binary. Only Linux
// has the mount namespaces the launcher needs; without it replicas see the
// machine's /etc/hosts.
func launcherArgv() []string {
	if runtime.GOOS != "linux" {
		return nil
	}
	return selfArgv(launcherCommand)
}
