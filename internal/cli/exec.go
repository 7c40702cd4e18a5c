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
unless --container names another), as 'podman exec' runs it. Without
--replica, the first ready replica is used. The command's exit code is
cove's.`,
		Example: `  cove exec triage-backend -- sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/metadata'
  cove exec triage-frontend -- sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/invoke/triage-backend/method/api/health'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: cove exec APP -- COMMAND [ARG...] (put -- between the app and the command)")
			}
			app, command := args[0], args[1:]
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			st, err := client.Status(cmd.Context())
			if err != nil {
				return err
			}
			name, err := pickReplica(st, app, replica)
			if err != nil {
				return err
			}
			re, err := client.ReplicaEnv(cmd.Context(), name)
			if err != nil {
				return err
			}
			var c *exec.Cmd
			if re.Engine != "" {
				c, err = execInContainer(cmd, re, container, command)
			} else if container != "" {
				return fmt.Errorf("app %s runs as a process, not containers: leave out --container", app)
			} else {
				c, err = execBeside(cmd, re, command)
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
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().StringVar(&replica, "replica", "", "replica name, as cove ps lists them; default: the first ready one")
	cmd.Flags().StringVar(&container, "container", "", "container name in the app's template (container mode); default: the first")
	return cmd
}

// execBeside starts command beside a process-mode replica, with its
// environment; it resolves app names as the replica does.
func execBeside(cmd *cobra.Command, re control.ReplicaEnv, command []string) (*exec.Cmd, error) {
	return supervisor.StartWithHosts(func() *exec.Cmd {
		c := exec.CommandContext(cmd.Context(), command[0], command[1:]...)
		c.Env, c.Dir = re.Env, re.Dir
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
		return c
	}, launcherArgv(), re.Hosts)
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
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		args = append(args, "-t")
	}
	args = append(append(args, re.ContainerNames[i]), command...)
	c := exec.CommandContext(cmd.Context(), re.Engine, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	return c, c.Start()
}

// pickReplica finds the named replica of app, or its first ready one.
func pickReplica(st control.Status, app, replica string) (string, error) {
	for _, a := range st.Apps {
		if a.Name != app {
			continue
		}
		for _, r := range a.Replicas {
			if replica == "" && r.Ready || replica != "" && r.Name == replica {
				return r.Name, nil
			}
		}
		if replica != "" {
			return "", fmt.Errorf("app %s has no replica %q; `cove ps` lists them", app, replica)
		}
		return "", fmt.Errorf("app %s has no ready replica yet; `cove ps` shows their state", app)
	}
	return "", fmt.Errorf("no app named %q in environment %s; `cove ps` lists them", app, st.Name)
}
