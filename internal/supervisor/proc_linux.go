package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts a replica in its own process group, so signals reach
// everything it starts (the program `go run` builds, a shell's children).
//
// Pdeathsig is a safety net for when cove dies without stopping its
// replicas (SIGKILL, a crash): the kernel then kills the replica's main
// process. Its limits: the "parent" whose death fires it is the OS thread
// that forked, not the cove process, which is why every replica is started
// and restarted from a goroutine locked to its thread for as long as its
// processes live (see replica.run); and it reaches only the direct child, so
// grandchildren are left to notice their parent's death themselves.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// SetSubreaper makes the calling process the reaper of its orphaned
// descendants (PR_SET_CHILD_SUBREAPER), so processes a replica leaves behind
// become cove's children, which the supervisor reaps when it stops the
// replica's group instead of leaving zombies to an init that may not reap.
// It affects the whole process; call it once at startup.
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	return nil
}

// groupHasLiveMember scans /proc for a process of the group that is not a
// zombie: zombies whose parent is not cove may never be reaped but are dead.
// cove's own zombies count as members until they are reaped.
func groupHasLiveMember(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	self := os.Getpid()
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err != nil || g != pgid {
			continue
		}
		if state := f[0][0]; state != 'Z' && state != 'X' {
			return true
		}
		if ppid, err := strconv.Atoi(string(f[1])); err == nil && ppid == self {
			return true
		}
	}
	return false
}
