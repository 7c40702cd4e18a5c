package cli

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/supervisor"
)

func newPsCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "ps [-f FILE] [-o table|json]",
		Short: "List the running environment's apps, revisions and replicas",
		Long: `List the running environment's apps with their ingress, ready replicas and
URLs, marking an app whose replicas failed and saying why; then every replica
with its revision, its process id (- while it restarts), its state (with
the ports it listens on when they are not its PORT), its PORT, its
sidecar's DAPR_HTTP_PORT and DAPR_GRPC_PORT, and whether it is ready to
receive traffic; then each app's revisions with their state, their share of
the app's traffic and their labels; then the components; then each app's
pub/sub subscriptions with their routes and dead-letter topics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := connectStatus(cmd, file)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return printAs(out, output, "table", st, func() error { return printStatus(out, st) })
		},
	}
	runningFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// printStatus renders `cove ps`: replicas, revisions, components.
func printStatus(out io.Writer, st control.Status) error {
	printApps(out, st, "", func(s string) string { return s })
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tREVISION\tREPLICA\tPID\tSTATE\tREADY\tRESTARTS\tPORT\tDAPR_HTTP_PORT\tDAPR_GRPC_PORT")
	for _, a := range st.Apps {
		for _, r := range a.Replicas {
			rev := cmp.Or(r.Revision, a.Revision)
			state := r.State
			if len(r.ListenPorts) > 0 {
				// An app that ignores $PORT: calls to it are refused.
				state += " (listens on " + supervisor.PortList(r.ListenPorts) + ", not PORT)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%d\t%d\t%s\t%s\n", a.Name, rev, r.Name, portOrDash(r.PID),
				state, r.Ready, r.Restarts, r.Port, portOrDash(r.DaprHTTPPort), portOrDash(r.DaprGRPCPort))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printContainers(out, st); err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tREVISION\tSTATE\tTRAFFIC\tLABELS\tREADY")
	for _, a := range st.Apps {
		for _, r := range a.Revisions {
			traffic := "-"
			if r.State == "active" && a.Ingress != "none" {
				traffic = strconv.Itoa(r.Weight) + "%"
			}
			state := r.State
			if r.Latest {
				state += " (latest)"
			}
			labels := strings.Join(r.Labels, ",")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", a.Name, r.Name, state, traffic, cmp.Or(labels, "-"), r.Ready, r.Replicas)
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
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return printSubscriptions(out, st)
}

// printSubscriptions lists each app's pub/sub subscriptions, if any.
func printSubscriptions(out io.Writer, st control.Status) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	found := false
	for _, a := range st.Apps {
		for _, s := range a.Subscriptions {
			if !found {
				fmt.Fprintln(out)
				fmt.Fprintln(tw, "APP\tPUBSUB\tTOPIC\tROUTES\tDEAD_LETTER_TOPIC")
				found = true
			}
			routes := make([]string, len(s.Routes))
			for i, r := range s.Routes {
				routes[i] = cmp.Or(r, "(OnTopicEvent)")
				if s.Type == control.SubscriptionStreaming {
					routes[i] = "(streaming)"
				}
				if i < len(s.Rules) && s.Rules[i] != "" {
					routes[i] += " if " + s.Rules[i]
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, s.Pubsub, s.Topic, strings.Join(routes, "; "), cmp.Or(s.DeadLetterTopic, "-"))
		}
	}
	return tw.Flush()
}

// portOrDash renders a port, or a process id, that is 0 (none) as "-".
func portOrDash(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

// printContainers lists the containers of container-mode replicas, when
// there are any: image and the engine's container id.
func printContainers(out io.Writer, st control.Status) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := false
	for _, a := range st.Apps {
		for _, r := range a.Replicas {
			for _, c := range r.Containers {
				if !header {
					fmt.Fprintln(tw, "\nREPLICA\tCONTAINER\tIMAGE\tCONTAINER ID\tSTATE")
					header = true
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%s\n", r.Name, c.Name, c.Image, c.ID, c.State)
			}
		}
	}
	return tw.Flush()
}
