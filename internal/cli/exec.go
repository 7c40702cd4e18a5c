package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/netns"
	"github.com/cove-env/cove/internal/supervisor"
)

func newExecCmd() *cobra.Command {
	var file, replica, container string
	cmd := &cobra.Command{
		Use:   "exec APP [--replica NAME] [--container NAME] -- COMMAND [ARG...]",
		Short: "Run a command with a replica's environment",
		Long: `Run COMMAND with the environment of one replica of APP (its PORT,
DAPR_HTTP_PORT, DAPR_GRPC_PORT, CONTAINER_APP_* and its own variables), the
way 'az containerapp exec' runs a command inside a container. On Linux the
command also sees the replica's /etc/hosts, so app names resolve as they do
for the app. For an app that runs its images (docs/containers.md), the
command runs inside the replica's container (the first of the template
unless --container names another), as 'podman exec' or 'docker exec'
runs it; for a
process-mode replica of several containers, --container picks whose
environment the command gets. Without
--replica, the first ready replica is used. The command's exit code is
cove's.`,
		Example: `  cove exec triage-backend -- sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/metadata'
  cove exec triage-frontend -- sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/invoke/triage-backend/method/api/health'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: cove exec APP -- COMMAND [ARG...] (put -- between the app and the command)")
			}
			return runExec(cmd, file, execTarget{app: args[0], replica: replica, container: container}, args[1:])
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().StringVar(&replica, "replica", "", "replica name, as cove ps lists them; default: the first ready one")
	cmd.Flags().StringVar(&container, "container", "", "container name in the app's template; default: the first")
	return cmd
}

// execTarget is where a command runs: a replica of app (of revision when
// given; the first ready one unless replica names one) and a container of
// it (the template's first unless named).
type execTarget struct {
	app, revision, replica, container string
}

// runExec runs command in t's replica, as `cove exec` and `cove
// containerapp exec` do; the command's exit code becomes cove's.
func runExec(cmd *cobra.Command, file string, t execTarget, command []string) error {
	client, st, err := connectStatus(cmd, file)
	if err != nil {
		return err
	}
	name, err := pickReplica(st, t)
	if err != nil {
		return err
	}
	re, err := client.ReplicaEnv(cmd.Context(), name)
	if err != nil {
		return err
	}
	var c *exec.Cmd
	if re.Engine != "" {
		c, err = execInContainer(cmd, re, t.container, command)
	} else {
		c, err = execBeside(cmd, re, t.container, command)
	}
	if err == nil {
		err = c.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitError{ee.ExitCode()}
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		// As a shell says it: command not found.
		fmt.Fprintf(cmd.ErrOrStderr(), "cove: %v\n", err)
		return exitError{127}
	}
	return err
}

// execBeside starts command beside a process-mode replica, with the
// environment of its container (the first unless named); it resolves app
// names as the replica does.
func execBeside(cmd *cobra.Command, re control.ReplicaEnv, container string, command []string) (*exec.Cmd, error) {
	env, dir := re.Env, re.Dir
	if container != "" && container != re.Container {
		i := slices.IndexFunc(re.Processes, func(p control.ProcessEnv) bool { return p.Name == container })
		if i < 0 {
			names := []string{re.Container}
			if len(re.Processes) > 0 {
				names = names[:0]
				for _, p := range re.Processes {
					names = append(names, p.Name)
				}
			}
			return nil, fmt.Errorf("replica %s runs no container %q; it runs: %s", re.Replica, container, strings.Join(names, ", "))
		}
		env, dir = re.Processes[i].Env, re.Processes[i].Dir
	}
	start := func(network supervisor.Network) (*exec.Cmd, error) {
		return supervisor.StartWithHosts(func() *exec.Cmd {
			c := exec.CommandContext(cmd.Context(), command[0], command[1:]...)
			c.Env, c.Dir = env, dir
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			return c
		}, launcherArgv(), re.Hosts, network)
	}
	if re.Network == "" {
		return start(nil)
	}
	// In the replica's network namespace, where localhost:3500 is its
	// sidecar; the command is started from a thread inside it.
	ns, err := netns.Open(re.Network)
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", re.Replica, err)
	}
	defer ns.Close()
	if ns.Command(nil) != nil {
		// In a user namespace too (cove not root): the command joins both.
		return start(ns)
	}
	var c *exec.Cmd
	err = ns.Do(func() (err error) {
		c, err = start(nil)
		return err
	})
	return c, err
}

// execInContainer starts command in a container of a container-mode
// replica with the engine's exec, a terminal when cove has one.
func execInContainer(cmd *cobra.Command, re control.ReplicaEnv, container string, command []string) (*exec.Cmd, error) {
	i := 0
	if container != "" {
		i = slices.Index(re.Containers, container)
		if i < 0 {
			return nil, fmt.Errorf("replica %s has no container %q; its containers: %s", re.Replica, container, strings.Join(re.Containers, ", "))
		}
	}
	args := []string{"exec", "-i"}
	if stdinTerminal() {
		args = append(args, "-t")
	}
	args = append(append(args, re.ContainerNames[i]), command...)
	c := exec.CommandContext(cmd.Context(), re.Engine, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	return c, c.Start()
}

// stdinTerminal reports whether cove's standard input is a terminal: a
// character device other than the null device (docker refuses -t without a
// terminal).
func stdinTerminal() bool {
	st, err := os.Stdin.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// pickReplica finds t's replica: the one it names, or the first ready one
// (of its revision when it names one).
func pickReplica(st control.Status, t execTarget) (string, error) {
	for _, a := range st.Apps {
		if a.Name != t.app {
			continue
		}
		for _, r := range a.Replicas {
			if t.revision != "" && r.Revision != t.revision {
				continue
			}
			if t.replica == "" && r.Ready || t.replica != "" && r.Name == t.replica {
				return r.Name, nil
			}
		}
		switch {
		case t.replica != "" && t.revision != "":
			return "", fmt.Errorf("revision %s of app %s has no replica %q; `cove containerapp replica list -n %s --revision %s` lists them", t.revision, t.app, t.replica, t.app, t.revision)
		case t.replica != "":
			return "", fmt.Errorf("app %s has no replica %q; `cove ps` lists them", t.app, t.replica)
		case t.revision != "":
			return "", fmt.Errorf("revision %s of app %s has no ready replica; `cove containerapp revision list -n %s --all` shows its state", t.revision, t.app, t.app)
		}
		return "", fmt.Errorf("app %s has no ready replica yet; `cove ps` shows their state", t.app)
	}
	return "", fmt.Errorf("no app named %q in environment %s; `cove ps` lists them", t.app, st.Name)
}
