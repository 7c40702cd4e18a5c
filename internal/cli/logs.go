package cli

import (
	"github.com/spf13/cobra"
)

func newLogsCmd() *cobra.Command {
	var (
		file, replica, output string
		tail                  int
	)
	cmd := &cobra.Command{
		Use:   "logs APP [--replica NAME] [--tail N] [-o text|json]",
		Short: "Print the recent output of an app's replicas",
		Long: `Print the last lines an app's replicas wrote to stdout and stderr, oldest first,
each prefixed with its replica, as 'az containerapp logs show' does. cove keeps
the last 1000 lines of each running replica.`,
		Example: `  cove logs triage-backend --tail 20
  cove logs triage-backend --replica triage-backend--qu6zpde-1 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := args[0]
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			logs, err := client.Logs(cmd.Context(), app, replica, tail)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return printAs(out, output, "text", logs, func() error {
				con := newConsole(out, wantColor(out))
				for _, l := range logs {
					con.Line(app, l.Replica, l.Stream, []byte(l.Text))
				}
				return nil
			})
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().StringVar(&replica, "replica", "", "only this replica, as cove ps lists them")
	cmd.Flags().IntVar(&tail, "tail", 100, "how many lines")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
