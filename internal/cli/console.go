package cli

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/cove-env/cove/internal/control"
)

// console renders progress and app logs for a person: one line per event,
// app output prefixed by its replica's name in a color of its own, the way
// docker compose does. It serialises writes from many goroutines.
type console struct {
	mu     sync.Mutex
	out    io.Writer
	color  bool
	labels map[string]string // replica name -> colored, padded label
	width  int
	next   int
	// background: the `cove up` that `cove up -d` started, whose
	// output no terminal shows.
	background bool
}

// backgroundFooter ends the summary of an environment that runs in the
// background; `cove up -d` returns once it has shown it.
const backgroundFooter = "Running in the background: `cove logs --follow` shows the apps' output, `cove down` stops it."

// ANSI colors for replica labels, chosen to read well on dark and light
// terminals.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func newConsole(out io.Writer, color bool) *console {
	return &console{out: out, color: color, labels: map[string]string{}, width: 12}
}

// wantColor reports whether w is a terminal and NO_COLOR is not set.
func wantColor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *console) paint(code, s string) string {
	if !c.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Line prints one line of app output, labelled with the replica's name:
// the same shape for every revision, and the name `cove ps`, `cove logs
// --replica` and `cove exec --replica` take.
func (c *console) Line(_, replica, _ string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	label, ok := c.labels[replica]
	if !ok {
		if len(replica) > c.width {
			c.width = len(replica)
		}
		// Pad by the visible width, not the escape codes.
		label = c.paint(palette[c.next%len(palette)], replica) + strings.Repeat(" ", c.width-len(replica))
		c.next++
		c.labels[replica] = label
	}
	fmt.Fprintf(c.out, "%s | %s\n", label, line)
}

// Event prints one progress event.
func (c *console) Event(ev control.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := c.paint("32", "✓")
	bad := c.paint("31", "✗")
	dot := c.paint("2", "•")
	switch ev.Kind {
	case control.EventComponent:
		if ev.Err != nil {
			fmt.Fprintf(c.out, "%s component %s: %v\n", bad, ev.Component, ev.Err)
		} else {
			fmt.Fprintf(c.out, "%s component %s %s\n", ok, ev.Component, ev.Message)
		}
	case control.EventBuild:
		switch {
		case ev.Err != nil:
			fmt.Fprintf(c.out, "%s %v\n", bad, ev.Err) // "build of <app> failed (...)"
		case ev.Message == "done":
			fmt.Fprintf(c.out, "%s built %s\n", ok, ev.App)
		default:
			fmt.Fprintf(c.out, "%s building %s: %s\n", dot, ev.App, ev.Message)
		}
	case control.EventReplicaStart:
		fmt.Fprintf(c.out, "%s %s started (%s)\n", dot, ev.Replica, ev.Message)
	case control.EventReplicaReady:
		fmt.Fprintf(c.out, "%s %s ready\n", ok, ev.Replica)
	case control.EventReplicaDown:
		msg := "not ready"
		if ev.Message != "" {
			msg += ": " + ev.Message
		}
		fmt.Fprintf(c.out, "%s %s %s\n", c.paint("33", "!"), ev.Replica, msg)
	case control.EventAppNotReady:
		fmt.Fprintf(c.out, "%s app %s is not ready: %s\n", bad, ev.App, ev.Message)
		if len(ev.Lines) > 0 {
			fmt.Fprintln(c.out, "  its last lines:")
			for _, l := range ev.Lines {
				fmt.Fprintf(c.out, "    %s\n", l)
			}
		}
	case control.EventReady:
		c.summaryLocked(ev.Status)
	case control.EventRevision:
		if ev.Err != nil {
			fmt.Fprintf(c.out, "%s %s: %v\n", bad, ev.Message, ev.Err)
		} else {
			fmt.Fprintf(c.out, "%s %s\n", ok, ev.Message)
		}
	case control.EventStopping:
		fmt.Fprintf(c.out, "%s %s\n", dot, ev.Message)
	}
}

// summaryLocked prints the apps and their URLs once every replica is
// ready or has failed; apps that are not ready are marked.
func (c *console) summaryLocked(st *control.Status) {
	if st == nil {
		return
	}
	var failed []string
	for _, a := range st.Apps {
		if a.Problem != "" {
			failed = append(failed, a.Name)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(c.out, "\n%s environment %s is ready\n\n", c.paint("32", "✓"), c.paint("1", st.Name))
	} else {
		fmt.Fprintf(c.out, "\n%s environment %s is up; not ready: %s\n\n", c.paint("31", "✗"), c.paint("1", st.Name), strings.Join(failed, ", "))
	}
	printApps(c.out, *st, "  ", nil) // why came just before
	if st.Edge.HTTPSTaken != 0 {
		_, port, _ := net.SplitHostPort(st.Edge.HTTPS)
		fmt.Fprintf(c.out, "\nHTTPS is on port %s: port %d is taken (choose one with --https-port).\n", port, st.Edge.HTTPSTaken)
	}
	if st.API != nil {
		fmt.Fprintf(c.out, "\nThe management API also answers at %s, with the bearer token in %s:\n  COVE_API_URL=%s COVE_API_TOKEN=$(cat %s) cove ps\n",
			st.API.URL, st.API.TokenFile, st.API.URL, st.API.TokenFile)
	}
	if c.background {
		fmt.Fprintf(c.out, "\n%s\n", backgroundFooter)
		return
	}
	fmt.Fprintf(c.out, "\nLogs follow. Press Ctrl-C to stop; `cove ps` and `cove exec` work from another terminal.\n\n")
}

// printApps writes the apps table of the summary and `cove ps`: each app's
// ingress, ready replicas of its active revisions and URLs; an app that is
// not ready is marked ✗, and why follows the table when why is set.
func printApps(out io.Writer, st control.Status, indent string, why func(string) string) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sAPP\tINGRESS\tREADY\tURL\n", indent)
	for _, a := range st.Apps {
		ready, total := 0, 0
		for _, r := range a.Replicas {
			for _, rev := range a.Revisions {
				if rev.Name == r.Revision && rev.State == "active" {
					total++
					if r.Ready {
						ready++
					}
				}
			}
		}
		name := indent + a.Name
		if a.Problem != "" {
			name = strings.TrimSuffix(indent, "  ") + "✗ " + a.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", name, a.Ingress, ready, total, cmp.Or(strings.Join(a.URLs, " "), "-"))
	}
	tw.Flush()
	for _, a := range st.Apps {
		if a.Problem != "" && why != nil {
			fmt.Fprintf(out, "%s%s\n", indent, why(fmt.Sprintf("✗ %s is not ready: %s; `cove logs %s` shows why", a.Name, a.Problem, a.Name)))
		}
	}
}
