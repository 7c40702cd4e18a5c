//go:build !linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// isolationSupported reports whether this platform can give replicas a hosts
// file of their own: only Linux has the mount namespaces it takes.
const isolationSupported = false

func mountNamespace() (string, error) { return "", errors.ErrUnsupported }

func isolate(*exec.Cmd, []string, string, string) {}

func throughLauncher(*exec.Cmd, []string, string, string) {}

func namespaceRefused(error) bool { return false }

// RunLauncher is the launcher's body on Linux; elsewhere replicas start
// without it.
func RunLauncher([]string) int {
	fmt.Fprintln(os.Stderr, "cove: the replica launcher needs Linux")
	return 2
}
