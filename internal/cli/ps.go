package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

func newPsCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "ps [-f FILE] [-o table|json]",
		Short: "List the running environment's apps, revisions and replicas",
		Long: `List every replica of the running environment with its process id, its PORT,
its sidecar's DAPR_HTTP_PORT and DAPR_GRPC_PORT, and whether it is ready to
receive traffic. Components are listed after the replicas.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := control.NewClient(file).Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return printAs(out, output, "table", st, func() error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "APP\tREVISION\tREPLICA\tPID\tSTATE\tREADY\tRESTARTS\tPORT\tDAPR_HTTP_PORT\tDAPR_GRPC_PORT")
				for _, a := range st.Apps {
					for _, r := range a.Replicas {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%t\t%d\t%d\t%s\t%s\n", a.Name, a.Revision, r.Name, r.PID,
							r.State, r.Ready, r.Restarts, r.Port, portOrDash(r.DaprHTTPPort), portOrDash(r.DaprGRPCPort))
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(st.Components) > 0 {
					fmt.Fprintln(out)
					tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "COMPONENT\tTYPE\tVERSION\tSTATUS")
					for _, c := range st.Components {
						status := c.Status
						if c.Error != "" {
							status += ": " + c.Error
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Type, c.Version, status)
					}
					return tw.Flush()
				}
				return nil
			})
		},
	}
	envFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func portOrDash(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}
