package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

func newUpCmd() *cobra.Command {
	var (
		file      string
		httpPort  int
		httpsPort int
		apiPort   int
		apiHost   string
		verbose   bool
		detach    bool
		// background is set in the process `cove up -d` starts.
		background bool
	)
	cmd := &cobra.Command{
		Use:   "up [-f FILE] [-d] [APP...]",
		Short: "Run the environment (in the foreground, or in the background with -d)",
		Long: `Run every app of the environment (or only the APPs named) as local processes,
with the edge, the internal routing and a Dapr sidecar per replica of each
Dapr-enabled app.

cove shows progress while components load and replicas start, then a summary
with each app's URL, then the apps' logs, one color per replica. Ctrl-C stops
every replica gracefully (SIGTERM to its process group, SIGKILL after the
revision's termination grace period); a second Ctrl-C kills at once.

With -d the environment runs in the background: cove prints the progress and
the summary, then returns; 'cove logs --follow' shows the apps' output, and
'cove down' stops it. What it writes goes to .cove/up.log beside the file.`,
		Example: `  cove up -f examples/triage/cove.yaml
  cove up -d -f examples/triage
  cove up triage-backend --http-port 9080`,
		RunE: func(cmd *cobra.Command, apps []string) error {
			file = control.EnvFile(file)
			if detach {
				// The background cove loads the file and reports its problems.
				return upDetached(cmd, file)
			}
			env, err := loadEnv(cmd, file)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			con := newConsole(out, wantColor(out))
			con.background = background
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

			// SIGHUP too: a closed terminal stops the environment gracefully
			// instead of killing cove and orphaning its replicas.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			force := make(chan struct{})
			go func() {
				// After the first signal, a second one kills the replicas
				// at once instead of waiting for their grace period.
				<-ctx.Done()
				stop()
				sig := make(chan os.Signal, 1)
				signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sig)
				<-sig
				fmt.Fprintln(cmd.ErrOrStderr(), "cove: second interrupt, killing replicas")
				close(force)
			}()

			fmt.Fprintf(out, "%s starting environment %s from %s\n", con.paint("2", "•"), env.Name, file)
			err = control.Run(ctx, control.Options{
				Spec:        env,
				HTTPPort:    httpPort,
				HTTPSPort:   httpsPort,
				APIAddr:     apiAddr(apiHost, apiPort),
				Logger:      logger,
				Events:      con.Event,
				Output:      con.Line,
				Force:       force,
				Guardian:    guardianArgv(),
				Launcher:    launcherArgv(),
				PodRunner:   podArgv(),
				NetnsHolder: netnsHolderArgv(),
				Registry:    control.RegistryDir(),
				Apps:        apps,
			})
			if errors.As(err, new(control.ReportedError)) {
				return exitError{1} // printed as it happened
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			fmt.Fprintf(out, "%s environment %s stopped\n", con.paint("32", "✓"), env.Name)
			return nil
		},
	}
	envFileFlag(cmd, &file)
	cmd.Flags().IntVar(&httpPort, "http-port", 0, "edge HTTP port (default: edge.httpPort from the file, else 8080)")
	cmd.Flags().IntVar(&httpsPort, "https-port", 0, "edge HTTPS port (default 8443, or a free port when 8443 is taken)")
	cmd.Flags().IntVar(&apiPort, "api-port", 0, "also serve the management API over TCP on this port, with a bearer token (see docs/cli.md)")
	cmd.Flags().StringVar(&apiHost, "api-host", "127.0.0.1", "the address --api-port listens on")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log cove's own debug messages to stderr")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background: print the summary and return")
	cmd.Flags().BoolVar(&background, backgroundFlag, false, "")
	_ = cmd.Flags().MarkHidden(backgroundFlag)
	return cmd
}

func newDownCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "down [-f FILE]",
		Short: "Stop a running environment",
		Long: `Ask the environment started by cove up (in another terminal, or with -d) to
stop gracefully, and wait until it has: every replica, sidecar and component.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, st, err := connectStatus(cmd, file)
			if err != nil {
				return err
			}
			if err := client.Shutdown(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stopping environment %s\n", st.Name)
			if err := client.WaitStopped(cmd.Context(), st.PID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "environment %s stopped\n", st.Name)
			return nil
		},
	}
	runningFileFlag(cmd, &file)
	return cmd
}

// loadEnv loads and validates an environment file, printing every problem
// (and warnings) so a user can fix them all at once.
func loadEnv(cmd *cobra.Command, file string) (*spec.Environment, error) {
	env, err := control.Load(file)
	var probs spec.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(cmd.ErrOrStderr(), p.String())
		}
		n := len(probs.Errors())
		return nil, exitErrorf(1, "%d problem(s) in %s; fix them and run again", n, file)(cmd)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range env.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), w.String())
	}
	return env, nil
}

// exitErrorf prints a message and returns an exit error.
func exitErrorf(code int, format string, args ...any) func(*cobra.Command) error {
	return func(cmd *cobra.Command) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "cove: "+format+"\n", args...)
		return exitError{code}
	}
}

// apiAddr is the address of the management API over TCP that --api-host
// and --api-port ask for; empty for none.
func apiAddr(host string, port int) string {
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
