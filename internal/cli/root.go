package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	// Every component implementation registers itself.
	_ "github.com/cove-env/cove/internal/components/all"
)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Execute runs the CLI with the process's arguments and returns the exit code.
func Execute() int {
	cmd := New(os.Stdout, os.Stderr)
	cmd.SetArgs(expandAzLists(os.Args[1:]))
	err := cmd.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(os.Stderr, "cove:", err)
		return 1
	}
}

// New builds the command tree writing to out and errOut.
func New(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "cove",
		Short: "Run an Azure Container Apps environment on your machine",
		Long: `cove runs an Azure Container Apps (ACA) environment on one machine.

It reads the same container app YAML you deploy with 'az containerapp create --yaml'
and the same Dapr component YAML you give 'az containerapp env dapr-component set',
and runs every app as local processes with:

  - revisions and replicas, with health probes and restarts,
  - a managed ingress edge: external apps at http://<app>.localhost:8080,
    internal apps reachable only from inside the environment (404 outside),
  - internal service discovery: apps call each other as http://<app>,
  - a Dapr-compatible sidecar per replica (service invocation, state, ...),
    on DAPR_HTTP_PORT, with the same component files as Dapr and ACA.

An environment is described by a cove.yaml file that lists the apps' ACA YAML
files, how to run each app locally, and the Dapr components.

Quick start:
  cove up -f examples/triage/cove.yaml     run the example environment (-d: in the background)
  cove ps                                  list apps, revisions and replicas
  cove logs triage-backend --follow        output of an app, as it is written
  cove exec triage-backend -- sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/metadata'
  cove down                                stop it

Commands other than up find the running environment from any directory: the
nearest cove.yaml here or above, else the only environment running.

Without cove up, 'cove sidecar' runs one daprd-compatible sidecar for an app you
start yourself. The docs/ directory describes every command and file format.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       control.Version,
	}
	// --version prints what `cove version` prints; -v is --verbose where a
	// command has it, never --version.
	root.SetVersionTemplate(versionLine() + "\n")
	root.Flags().Bool("version", false, "print cove's version")

	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(
		newUpCmd(),
		newDownCmd(),
		newValidateCmd(),
		newPsCmd(),
		newExecCmd(),
		newLogsCmd(),
		newVersionCmd(),
		newEnvCmd(),
		newSidecarCmd(),
		newPlacementCmd(),
		newGuardianCmd(),
		newLauncherCmd(),
		newNetnsHolderCmd(),
		newPodCmd(),
		newReloadCmd(),
		newContainerAppCmd(),
		newExportCmd(),
	)
	return root
}

// envFileFlag adds the -f flag of the commands that read the environment
// file.
func envFileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVarP(file, "file", "f", control.DefaultFile, "environment file, or the directory holding its cove.yaml")
}

// runningFileFlag adds the -f flag of the commands that talk to a running
// environment, which they find without it (see connect).
func runningFileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVarP(file, "file", "f", control.DefaultFile,
		"environment file, or its directory (default: the nearest cove.yaml here or above, else the only environment running)")
	// Or over TCP (cove up --api-port) instead of the socket.
	cmd.Flags().String("api-url", "", "the management API's URL, as cove up --api-port serves it (default $COVE_API_URL; unset: the environment's socket)")
	cmd.Flags().String("api-token", "", "the management API's bearer token over TCP (default $COVE_API_TOKEN)")
}

// connect returns a client of the running environment the command means:
// the -f file when given, else the nearest cove.yaml in the working
// directory or above, else the only environment this user runs (see
// control.Locate).
func connect(cmd *cobra.Command, file string) (*control.Client, error) {
	if u := apiFlag(cmd, "api-url", "COVE_API_URL"); u != "" {
		return control.NewTCPClient(u, apiFlag(cmd, "api-token", "COVE_API_TOKEN"))
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	f, err := control.Locate(file, cmd.Flags().Changed("file"), wd, control.RegistryDir())
	if err != nil {
		return nil, err
	}
	return control.NewClient(f), nil
}

// apiFlag is the value of a root flag that talks to the management API
// over TCP, else of its environment variable.
func apiFlag(cmd *cobra.Command, name, env string) string {
	if v, err := cmd.Flags().GetString(name); err == nil && v != "" {
		return v
	}
	return os.Getenv(env)
}

// connectStatus connects as connect does and fetches the environment's
// status.
func connectStatus(cmd *cobra.Command, file string) (*control.Client, control.Status, error) {
	client, err := connect(cmd, file)
	if err != nil {
		return nil, control.Status{}, err
	}
	st, err := client.Status(cmd.Context())
	return client, st, err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cove's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

// versionLine is cove's version as `cove version` and `cove --version`
// print it; control.Version is its one source.
func versionLine() string {
	return fmt.Sprintf("cove %s (Dapr API %s)", control.Version, control.DaprAPIVersion)
}
