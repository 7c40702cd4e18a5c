package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

// newContainerAppExecCmd is `cove containerapp exec`: `cove exec` with
// az's flags.
func newContainerAppExecCmd() *cobra.Command {
	var file, command string
	var t execTarget
	cmd := &cobra.Command{
		Use:   "exec -n NAME [--revision REVISION] [--replica REPLICA] [--container CONTAINER] [--command CMD]",
		Short: "Run a command in a replica of an app, as az containerapp exec",
		Long: `Run a command in a replica of an app as az containerapp exec does, and as
cove exec runs it: with the replica's environment, inside its container for
an app that runs images. Without --replica, the first ready replica (of
--revision when given) is used; without --container, the template's first
container. --command is split at spaces, with quotes ('…' or "…") keeping
spaces in an argument; it is sh by default, a shell on the replica. The
command's exit code is cove's.`,
		Example: `  cove containerapp exec -n triage-backend --command "sh -c 'curl -s localhost:$DAPR_HTTP_PORT/v1.0/healthz && echo ok'"
  cove containerapp exec -n triage-backend --replica triage-backend--x5sgy7p-1 --command env`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			argv, err := splitCommand(command)
			if err != nil {
				return fmt.Errorf("--command %q: %w", command, err)
			}
			if len(argv) == 0 {
				return errors.New("--command is empty: give the command to run, such as --command env")
			}
			return runExec(cmd, file, t, argv)
		},
	}
	nameFlag(cmd, &t.app, "the app's name")
	revisionFlag(cmd, &t.revision, "run in a replica of this revision; default: any of the app's")
	cmd.Flags().StringVar(&t.replica, "replica", "", "the replica's name; default: the first ready one")
	cmd.Flags().StringVar(&t.container, "container", "", "the container's name in the app's template; default: the first")
	cmd.Flags().StringVar(&command, "command", "sh", "the command to run, split at spaces; quotes keep an argument's spaces")
	runningFileFlag(cmd, &file)
	azIgnoredFlags(cmd)
	return cmd
}

// splitCommand splits s at unquoted spaces, as a shell splits a simple
// command: '…' keeps everything, "…" and \ keep spaces; nothing is
// expanded.
func splitCommand(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'' && r == '\'', quote == '"' && r == '"':
			quote = 0
		case quote == '\'':
			cur.WriteRune(r)
		case r == '\\':
			escaped, inWord = true, true
		case quote == '"':
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed", quote)
	}
	if escaped {
		return nil, errors.New("it ends with a \\")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// azLogLine is a line as `az containerapp logs show --format json` prints
// it (TimeStamp, Log), with where it came from.
type azLogLine struct {
	TimeStamp        string `json:"TimeStamp"`
	Log              string `json:"Log"`
	Stream           string `json:"Stream"`
	ContainerAppName string `json:"ContainerAppName"`
	RevisionName     string `json:"RevisionName"`
	ReplicaName      string `json:"ReplicaName"`
	ContainerName    string `json:"ContainerName,omitempty"`
}

// azLog is l as az prints it for app; the container's name that starts
// the line of a replica of several containers moves to ContainerName.
func azLog(app string, l control.LogEntry) azLogLine {
	rev := l.Replica
	if i := strings.LastIndex(rev, "-"); i > 0 {
		rev = rev[:i] // a replica is named <revision>-<index>
	}
	return azLogLine{
		TimeStamp: l.Time.UTC().Format(time.RFC3339Nano), Log: strings.TrimPrefix(l.Text, l.Container+": "),
		Stream: l.Stream, ContainerAppName: app, RevisionName: rev, ReplicaName: l.Replica, ContainerName: l.Container,
	}
}

// newContainerAppLogsCmd is `cove containerapp logs show`: `cove logs`
// with az's flags and JSON lines.
func newContainerAppLogsCmd() *cobra.Command {
	logs := &cobra.Command{Use: "logs", Short: "Show an app's console logs", Args: cobra.NoArgs}
	var (
		file, format, typ string
		q                 control.LogQuery
		follow            bool
	)
	show := &cobra.Command{
		Use:   "show -n NAME [--follow] [--tail N] [--revision REVISION] [--replica REPLICA] [--container CONTAINER] [--format json|text]",
		Short: "Show an app's console logs, as az containerapp logs show",
		Long: `Print the last lines an app's replicas wrote to stdout and stderr, oldest
first, as az containerapp logs show does: with --format json (the default)
one JSON object per line (TimeStamp, Log, Stream, ContainerAppName,
RevisionName, ReplicaName, ContainerName), with --format text as cove logs
prints them. --follow keeps printing new lines until Ctrl-C. --revision,
--replica and --container (daprd: the Dapr sidecar's lines) narrow them.`,
		Example: `  cove containerapp logs show -n triage-backend --tail 50
  cove containerapp logs show -n triage-backend --follow --format text`,
		// az writes --follow true; the value is taken here.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && cmd.Flags().Changed("follow") && (args[0] == "true" || args[0] == "false") {
				follow = args[0] == "true"
				return nil
			}
			return cobra.NoArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "text" {
				return fmt.Errorf("unknown --format %q: use json or text", format)
			}
			if typ != "console" {
				return fmt.Errorf("--type %s: cove keeps the apps' console logs only; its own events are in the output of cove up", typ)
			}
			return showLogs(cmd, file, q, follow, format == "json", func(l control.LogEntry) any { return azLog(q.App, l) })
		},
	}
	nameFlag(show, &q.App, "the app's name")
	fl := show.Flags()
	fl.BoolVar(&follow, "follow", false, "keep printing new lines until Ctrl-C")
	fl.IntVar(&q.Tail, "tail", 20, "how many of the last lines; 0 for all that are kept")
	revisionFlag(show, &q.Revision, "only this revision's replicas")
	fl.StringVar(&q.Replica, "replica", "", "only this replica")
	fl.StringVar(&q.Container, "container", "", "only this container's lines (daprd: the Dapr sidecar's)")
	fl.StringVar(&format, "format", "json", "json (a JSON object per line) or text")
	fl.StringVar(&typ, "type", "console", "console; cove has no system log stream")
	runningFileFlag(show, &file)
	azIgnoredFlags(show)
	logs.AddCommand(show)
	return logs
}
