package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

func newReloadCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "reload [-f FILE] [-o text|json]",
		Short: "Apply changes of the environment file to the running environment",
		Long: `Re-read and validate the environment file and every file it references, then
apply what can change while the environment runs.

An app whose template changed (or whose command, build, env, secrets or
directory in the environment file changed) gets a new revision: its replicas
start, and once they are all ready the new revision takes the traffic. With
activeRevisionsMode single the previous revision then stops, after finishing
the requests it has; with multiple, older revisions keep running while the
ingress traffic gives them a weight or a label. A revision that does not get
ready is stopped and reported; the app keeps its current revision.

Ingress settings (external, transport, exposed ports, IP restrictions, CORS,
sticky sessions, client certificates, custom domains and their certificates,
traffic weights and labels) and activeRevisionsMode apply without a new
revision. Requests in flight finish on the settings they started with.

Other changes (Dapr settings, components, apps added or removed, target
ports) are listed as needing a restart. An invalid file changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			res, err := client.Reload(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return printAs(out, output, "text", res, func() error {
				printReload(out, cmd.ErrOrStderr(), res)
				if len(res.Errors) > 0 {
					return exitError{code: 1}
				}
				return nil
			})
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// printReload renders a reload's result: what applied, the revisions it
// started and stopped, what needs a restart, and errors (to errOut).
func printReload(out, errOut io.Writer, res control.ReloadResult) {
	if len(res.Applied) == 0 && len(res.Revisions) == 0 {
		fmt.Fprintln(out, "nothing to apply")
	}
	if len(res.Applied) > 0 {
		fmt.Fprintf(out, "applied the configuration of: %s\n", strings.Join(res.Applied, ", "))
	}
	if len(res.Revisions) > 0 {
		fmt.Fprintln(out, "revisions:")
		for _, s := range res.Revisions {
			fmt.Fprintf(out, "  %s\n", s)
		}
	}
	if len(res.NeedsRestart) > 0 {
		fmt.Fprintln(out, "these changes need a restart (cove down, then cove up):")
		for _, s := range res.NeedsRestart {
			fmt.Fprintf(out, "  - %s\n", s)
		}
	}
	for _, s := range res.Errors {
		fmt.Fprintf(errOut, "error: %s\n", s)
	}
}
