package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/engine"
)

// podCommand is the hidden command a container replica runs as: it runs
// the replica's pod (engine.RunPod) for as long as the supervisor keeps it.
const podCommand = "replica-pod"

func newPodCmd() *cobra.Command {
	var removeEnv, name, bin string
	cmd := &cobra.Command{
		Use:    podCommand,
		Short:  "Run a replica's pod with the container engine (run by cove up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			var err error
			if removeEnv != "" {
				// The guardian's call after cove died (see control).
				var e *engine.Engine
				if e, err = engine.New(name, bin); err == nil {
					_, _, err = e.RemoveEnv(context.Background(), removeEnv)
				}
			} else {
				err = runPod()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "cove:", err)
				os.Exit(1)
			}
		},
	}
	cmd.Flags().StringVar(&removeEnv, "remove-env", "", "remove every pod of the environment with this id instead")
	cmd.Flags().StringVar(&name, "engine", "podman", "the engine (podman or docker), with --remove-env")
	cmd.Flags().StringVar(&bin, "engine-bin", "podman", "the engine's executable, with --remove-env")
	return cmd
}

func runPod() error {
	var spec engine.PodSpec
	if err := json.Unmarshal([]byte(os.Getenv(engine.SpecVar)), &spec); err != nil {
		return fmt.Errorf("the pod's spec in $%s: %w", engine.SpecVar, err)
	}
	_ = os.Unsetenv(engine.SpecVar)
	if os.Getenv(engine.BinVar) == "" {
		return fmt.Errorf("$%s is empty", engine.BinVar)
	}
	e, err := engine.New(os.Getenv(engine.EngineVar), os.Getenv(engine.BinVar))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return engine.RunPod(ctx, e, spec, os.Stdout, os.Stderr, log)
}

// podArgv is the command line of a container replica: this same binary.
func podArgv() []string { return selfArgv(podCommand) }
