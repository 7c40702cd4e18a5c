package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/cove-env/cove/internal/control"
)

// console renders progress and app logs for a person: one line per event,
// app output prefixed by a short replica label in a color of its own, the
// way docker compose does. It serialises writes from many goroutines.
type console struct {
	mu     sync.Mutex
	out    io.Writer
	color  bool
	labels map[string]string // replica name -> colored, padded label
	// shorts are the short labels given out, with the replica each names.
	shorts map[string]string
	width  int
	next   int
}

// ANSI colors for replica labels, chosen to read well on dark and light
// terminals.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func newConsole(out io.Writer, color bool) *console {
	return &console{out: out, color: color, labels: map[string]string{}, shorts: map[string]string{}, width: 12}
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

// shortName turns "triage-backend--k2j4h1a-1" into "triage-backend-1".
func shortName(app, replica string) string {
	if i := strings.LastIndexByte(replica, '-'); i >= 0 && app != "" {
		return app + replica[i:]
	}
	return replica
}

// Line prints one line of app output.
func (c *console) Line(app, replica, stream string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	label, ok := c.labels[replica]
	if !ok {
		name := shortName(app, replica)
		if other, taken := c.shorts[name]; taken && other != replica {
			// Another revision's replica has it: name this one in full.
			name = replica
		} else {
			c.shorts[name] = replica
		}
		if len(name) > c.width {
			c.width = len(name)
		}
		// Pad by the visible width, not the escape codes.
		label = c.paint(palette[c.next%len(palette)], name) + strings.Repeat(" ", c.width-len(name))
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
			fmt.Fprintf(c.out, "%s build of %s failed: %v\n", bad, ev.App, ev.Err)
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
	case control.EventReady:
		c.summaryLocked(ev.Status)
	case control.EventRevision:
		fmt.Fprintf(c.out, "%s %s\n", ok, ev.Message)
	case control.EventStopping:
		fmt.Fprintf(c.out, "%s %s\n", dot, ev.Message)
	}
}

// summaryLocked prints the apps and their URLs once everything is ready.
func (c *console) summaryLocked(st *control.Status) {
	if st == nil {
		return
	}
	fmt.Fprintf(c.out, "\n%s environment %s is ready\n\n", c.paint("32", "✓"), c.paint("1", st.Name))
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  APP\tINGRESS\tREPLICAS\tURL")
	for _, a := range st.Apps {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", a.Name, a.Ingress, len(a.Replicas), a.URL)
	}
	tw.Flush()
	fmt.Fprintf(c.out, "\nLogs follow. Press Ctrl-C to stop; `cove ps` and `cove exec` work from another terminal.\n\n")
}
