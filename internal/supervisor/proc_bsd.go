//go:build unix && !linux

package supervisor

import (
	"errors"
	"syscall"
)

// sysProcAttr puts a replica in its own process group, so signals reach
// everything it starts. These systems have no parent-death signal.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// SetSubreaper is supported on Linux only.
func SetSubreaper() error { return errors.ErrUnsupported }

// groupHasLiveMember cannot tell zombies apart here, so a group that kill(2)
// still finds is taken as alive.
func groupHasLiveMember(int) bool { return true }

// zombie cannot tell here; a zombie counts as alive.
func zombie(int) bool { return false }
