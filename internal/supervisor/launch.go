package supervisor

import "os/exec"

// startLaunched starts the command newCmd builds through launcher, in a
// mount namespace where hosts is /etc/hosts (see Options.Launcher). Where
// the kernel refuses the namespaces, it starts a second command from newCmd
// as it is and returns the refusal in refused.
func startLaunched(newCmd func() *exec.Cmd, launcher []string, hosts, outside string) (cmd *exec.Cmd, refused, err error) {
	cmd = newCmd()
	isolate(cmd, launcher, hosts, outside)
	if err = cmd.Start(); err == nil || !namespaceRefused(err) {
		return cmd, nil, err
	}
	cmd = newCmd()
	return cmd, err, cmd.Start()
}

// startJoined starts the command newCmd builds through network's
// Command (a namespace a thread cannot enter), and through launcher when
// hosts is set, which then makes its mount namespace itself inside.
func startJoined(newCmd func() *exec.Cmd, network Network, launcher []string, hosts, outside string) (*exec.Cmd, error) {
	cmd := newCmd()
	if hosts != "" && len(launcher) > 0 && outside != "" {
		throughLauncher(cmd, launcher, hosts, outside)
	}
	argv := network.Command(append([]string{cmd.Path}, cmd.Args[1:]...))
	cmd.Path, cmd.Args = argv[0], argv
	return cmd, cmd.Start()
}

// StartWithHosts starts the command newCmd builds so that it sees hosts as
// /etc/hosts, as a replica does: `cove exec` runs commands beside a
// replica this way. Without a launcher or a hosts file, on platforms
// other than Linux, or where the kernel refuses the namespaces, the
// command starts as it is. network, when not nil, is the replica's
// network namespace; the caller's thread has entered it unless its
// Command says how processes do.
func StartWithHosts(newCmd func() *exec.Cmd, launcher []string, hosts string, network Network) (*exec.Cmd, error) {
	outside, err := mountNamespace()
	if network != nil && network.Command(nil) != nil {
		if err != nil {
			outside = ""
		}
		return startJoined(newCmd, network, launcher, hosts, outside)
	}
	if !isolationSupported || len(launcher) == 0 || hosts == "" || err != nil {
		cmd := newCmd()
		return cmd, cmd.Start()
	}
	cmd, _, err := startLaunched(newCmd, launcher, hosts, outside)
	return cmd, err
}
