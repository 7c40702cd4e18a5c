package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// A replica with a Hosts file starts through the launcher (Options.Launcher,
// cove re-executed) in a mount namespace of its own, where the launcher binds
// the file over /etc/hosts and then execs the replica's command in its own
// place: the process the supervisor watches, signals and reaps is the
// replica's, as without the launcher.
//
// As root a mount namespace is all it takes. Any other user also gets a user
// namespace that maps the user to itself, so files, ownership and `id` look
// as before, with CAP_SYS_ADMIN as an ambient capability for the mount. The
// launcher clears it before exec, and exec as a user other than root leaves
// the replica no capability at all.
//
// A replica whose network namespace is in a user namespace of its own
// (Network.Command) is root there: the launcher makes its mount namespace
// itself, once inside, since namespaces given at fork would be made
// outside the user namespace and keep it from being entered.

const (
	launcherHostsFlag = "--hosts"
	launcherMountFlag = "--outside"
	// launcherUnshareFlag replaces launcherMountFlag when the launcher
	// makes its mount namespace itself.
	launcherUnshareFlag = "--unshare-outside"
	// launcherFailed is the launcher's exit status when it cannot exec the
	// replica's command, as a shell's for a command it cannot run.
	launcherFailed = 127
)

// isolationSupported reports whether this platform can give replicas a hosts
// file of their own.
const isolationSupported = true

// mountNamespace names the calling process's mount namespace.
func mountNamespace() (string, error) { return os.Readlink("/proc/thread-self/ns/mnt") }

// isolate makes cmd start through launcher, in the namespaces its user
// needs. outside is the supervisor's mount namespace, which the launcher
// checks it has left before it mounts anything.
func isolate(cmd *exec.Cmd, launcher []string, hosts, outside string) {
	launch(cmd, launcher, hosts, launcherMountFlag, outside)
	var attr syscall.SysProcAttr
	if cmd.SysProcAttr != nil {
		attr = *cmd.SysProcAttr
	}
	if os.Geteuid() == 0 {
		// os/exec also makes every mount private to the new namespace.
		attr.Unshareflags |= syscall.CLONE_NEWNS
	} else {
		uid, gid := os.Getuid(), os.Getgid()
		attr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}
	}
	cmd.SysProcAttr = &attr
}

// throughLauncher makes cmd start through launcher, which makes the mount
// namespace it needs itself, as isolate's command is given one at fork.
func throughLauncher(cmd *exec.Cmd, launcher []string, hosts, outside string) {
	launch(cmd, launcher, hosts, launcherUnshareFlag, outside)
}

// launch makes cmd start through launcher, told to leave outside with
// mountFlag.
func launch(cmd *exec.Cmd, launcher []string, hosts, mountFlag, outside string) {
	argv := append(slices.Clone(launcher), launcherHostsFlag, hosts, mountFlag, outside, "--", cmd.Path)
	cmd.Path, cmd.Args = launcher[0], append(argv, cmd.Args...)
}

// namespaceRefused reports whether a start failed because the kernel (or a
// container's seccomp profile, or a disabled user namespace setting) refused
// the namespaces, rather than because of the command.
func namespaceRefused(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EPERM, syscall.EINVAL, syscall.ENOSPC, syscall.EUSERS, syscall.ENOSYS:
		return true
	}
	return false
}

// RunLauncher is the launcher's body: args are what follows the launcher's
// own command line, "--hosts FILE --outside NS -- PATH ARGV..." (or
// --unshare-outside NS, to make its mount namespace first). It binds
// FILE over /etc/hosts and execs PATH; it returns only when it cannot exec. A hosts
// file it cannot bind is reported on the replica's standard error, and the
// replica runs on the machine's names.
func RunLauncher(args []string) int {
	if len(args) < 7 || args[0] != launcherHostsFlag || (args[2] != launcherMountFlag && args[2] != launcherUnshareFlag) || args[4] != "--" {
		fmt.Fprintln(os.Stderr, "cove: the replica launcher is started by cove up, with --hosts FILE --outside NS -- PATH ARGV...")
		return 2
	}
	hosts, outside, path, argv := args[1], args[3], args[5], args[6:]
	// Exec must come from the thread whose mount namespace the replica
	// gets (see bindHosts).
	runtime.LockOSThread()
	var err error
	if args[2] == launcherUnshareFlag {
		// Started in the supervisor's mount namespace, as root of a user
		// namespace: this thread makes one of its own, which the process
		// takes at exec.
		if err = unix.Unshare(unix.CLONE_NEWNS); err != nil {
			err = fmt.Errorf("a mount namespace: %w", err)
		}
	}
	if err == nil {
		err = bindHosts(hosts, outside)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cove: this replica cannot resolve the environment's app names: %v\n", err)
	}
	// The mount needed CAP_SYS_ADMIN; the replica gets none.
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "cove: run %s: %v\n", path, err)
	return launcherFailed
}

// bindHosts mounts hosts over /etc/hosts, which it does only in a mount
// namespace of its own: run by hand, as root, it would change the machine's
// names for every process. Its namespace must differ from outside (the
// supervisor's, as it was told) and from its parent's. A parent it may not
// inspect is one in another user namespace, in which case the only mounts
// it can make are in the namespace it was started in.
func bindHosts(hosts, outside string) error {
	own, err := mountNamespace()
	if err != nil {
		return fmt.Errorf("find the mount namespace: %w", err)
	}

	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if own == outside || (err == nil && own == parent) || (err != nil && !errors.Is(err, os.ErrPermission)) {
		return errors.New("not in a mount namespace of its own")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the mounts private: %w", err)
	}
	if err := unix.Mount(hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over /etc/hosts: %w", hosts, err)
	}
	return nil
}
