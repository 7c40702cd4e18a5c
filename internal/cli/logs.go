package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

func newLogsCmd() *cobra.Command {
	var (
		file, output, since string
		q                   control.LogQuery
		follow              bool
	)
	cmd := &cobra.Command{
		Use:   "logs [APP] [--follow] [--tail N] [--since 10m] [--revision NAME] [--replica NAME] [-o text|json]",
		Short: "Print the output of the environment's replicas",
		Long: `Print the last lines the replicas wrote to stdout and stderr (their sidecars'
lines too), oldest first, each prefixed with its replica, as 'az containerapp
logs show' does: of every app, or of APP. --follow keeps printing new lines,
of replicas that start later too, until Ctrl-C or the environment stops.
cove keeps the last 1000 lines of each running replica.`,
		Example: `  cove logs --follow
  cove logs triage-backend --tail 20 --since 5m
  cove logs triage-backend --replica triage-backend--x5sgy7p-1 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				q.App = args[0]
			}
			if output != "text" && output != "json" && output != "" {
				return fmt.Errorf("unknown output format %q: use text or json", output)
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Since = t
			}
			return showLogs(cmd, file, q, follow, output == "json", nil)
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new lines (-o json: one JSON object per line)")
	cmd.Flags().IntVar(&q.Tail, "tail", 100, "how many of the last lines; 0 for all that are kept")
	cmd.Flags().StringVar(&since, "since", "", "only lines of the last DURATION (10m, 1h30m) or since an RFC 3339 TIME")
	cmd.Flags().StringVar(&q.Revision, "revision", "", "only this revision's replicas, as cove ps lists them")
	cmd.Flags().StringVar(&q.Replica, "replica", "", "only this replica, as cove ps lists them")
	cmd.Flags().StringVar(&q.Container, "container", "", "only this container's lines (daprd: the Dapr sidecar's)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// showLogs prints the lines q selects, then with follow every new one,
// as `cove logs` and `cove containerapp logs show` do: asJSON one object
// per line (toJSON's of each entry, the entry itself when nil), else as
// cove up prints them.
func showLogs(cmd *cobra.Command, file string, q control.LogQuery, follow, asJSON bool, toJSON func(control.LogEntry) any) error {
	client, err := connect(cmd, file)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	con := newConsole(out, wantColor(out))
	enc := json.NewEncoder(out)
	emit := func(l control.LogEntry) {
		switch {
		case asJSON && toJSON != nil:
			_ = enc.Encode(toJSON(l)) // one entry per line
		case asJSON:
			_ = enc.Encode(l)
		default:
			con.Line(q.App, l.Replica, l.Stream, []byte(l.Text))
		}
	}
	if follow {
		return client.FollowLogs(cmd.Context(), q, emit)
	}
	logs, err := client.Logs(cmd.Context(), q)
	if err != nil {
		return err
	}
	if asJSON && toJSON == nil {
		// A JSON array, as cove logs -o json always printed.
		return printAs(out, "json", "text", logs, nil)
	}
	for _, l := range logs {
		emit(l)
	}
	return nil
}

// parseSince reads --since: a duration before now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a duration (10m, 1h30m) nor an RFC 3339 time (2026-01-02T15:04:05Z)", s)
}
