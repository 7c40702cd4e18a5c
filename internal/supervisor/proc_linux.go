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

// procStat reads a process's state, parent and process group from
// /proc/PID/stat: "pid (comm) state ppid pgrp ...", where comm may hold
// spaces and parentheses.
func procStat(pid string) (state byte, ppid, pgrp int, ok bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	return f[0][0], ppid, pgrp, err1 == nil && err2 == nil
}

// zombie reports whether the process has exited and waits to be reaped.
func zombie(pid int) bool {
	state, _, _, ok := procStat(strconv.Itoa(pid))
	return ok && (state == 'Z' || state == 'X')
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
		state, ppid, pgrp, ok := procStat(e.Name())
		if !ok || pgrp != pgid {
			continue // gone meanwhile, or another group's
		}
		if state != 'Z' && state != 'X' || ppid == self {
			return true
		}
	}
	return false
}
