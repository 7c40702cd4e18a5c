//go:build unix

package supervisor

import (
	"errors"
	"syscall"
)

// signalGroup sends sig to every process in the group; a group that is
// already gone is not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// groupAlive reports whether any process of the group still runs. It first
// reaps the group's members that are cove's children (orphans are, with
// SetSubreaper): a zombie still counts for kill(2).
//
// It must only be called after the group leader has been waited for, so it
// cannot take the leader's exit status away from os/exec.
func groupAlive(pgid int) bool {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pgid, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return groupHasLiveMember(pgid)
}

// supported reports whether replicas can run on this system.
func supported() error { return nil }

// ProcessAlive reports whether the process pid runs: it exists and, where
// the system tells, is not a zombie waiting for a parent to reap it.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !zombie(pid)
}
