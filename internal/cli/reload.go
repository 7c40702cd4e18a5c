package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

func newReloadCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "reload [-f FILE] [-o text|json]",
		Short: "Apply ingress changes of the environment file to the running environment",
		Long: `Re-read and validate the environment file and every file it references, then
apply what can change while replicas run: each app's ingress settings
(external, transport, exposed ports, IP restrictions, CORS, sticky sessions,
client certificates, custom domains and their certificates). Requests in
flight finish on the settings they started with.

Other changes (templates, Dapr settings, commands, components, apps added or
removed, target ports) are listed as needing a restart. An invalid file
changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := control.NewClient(file).Reload(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return printAs(out, output, "text", res, func() error {
				if len(res.Applied) == 0 {
					fmt.Fprintln(out, "no ingress change to apply")
				} else {
					fmt.Fprintf(out, "applied the ingress of: %s\n", strings.Join(res.Applied, ", "))
				}
				if len(res.NeedsRestart) > 0 {
					fmt.Fprintln(out, "these changes need a restart (cove down, then cove up):")
					for _, s := range res.NeedsRestart {
						fmt.Fprintf(out, "  - %s\n", s)
					}
				}
				if len(res.Errors) > 0 {
					for _, s := range res.Errors {
						fmt.Fprintf(cmd.ErrOrStderr(), "error: %s\n", s)
					}
					return exitError{code: 1}
				}
				return nil
			})
		},
	}
	envFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
