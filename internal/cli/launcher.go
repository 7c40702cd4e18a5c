package cli

import (
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/netns"
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

// netnsHolderCommand is the hidden command that holds a replica's network
// namespace inside a user namespace when cove is not root (see
// netns.RunHolder).
const netnsHolderCommand = "netns-holder"

func newNetnsHolderCmd() *cobra.Command {
	return &cobra.Command{
		Use:    netnsHolderCommand,
		Short:  "Hold a replica's network namespace in a user namespace (run by cove up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			os.Exit(netns.RunHolder())
		},
	}
}

// netnsHolderArgv is the holder's command line: this same binary. Only
// Linux has namespaces.
func netnsHolderArgv() []string {
	if runtime.GOOS != "linux" {
		return nil
	}
	return selfArgv(netnsHolderCommand)
}
