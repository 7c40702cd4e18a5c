package supervisor

import (
	"io"
	"os/exec"
	"strconv"
	"sync"
)

// A Guardian kills the replicas' process groups when cove dies without
// stopping them (SIGKILL, a crash). The parent-death signal reaches only a
// replica's main process; whatever that process started (a shell's
// children, `go run`'s binary) would otherwise be orphaned and keep
// running. The guardian is a separate process that cove tells, over a pipe,
// which groups are live; when the pipe closes without a goodbye, cove is
// gone and the guardian kills those groups.
//
// The protocol is one line per event: "+<pgid>" when a group starts,
// "-<pgid>" when it is gone (so a reused pgid is never killed), and "bye"
// before a clean exit.
type Guardian struct {
	mu  sync.Mutex
	w   io.WriteCloser
	cmd *exec.Cmd
}

func (g *Guardian) send(line string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w != nil {
		_, _ = io.WriteString(g.w, line+"\n")
	}
}

// Add reports a new replica process group.
func (g *Guardian) Add(pgid int) { g.send("+" + strconv.Itoa(pgid)) }

// Remove reports that a replica process group is gone.
func (g *Guardian) Remove(pgid int) { g.send("-" + strconv.Itoa(pgid)) }

// Close tells the guardian cove is exiting cleanly and waits for it.
func (g *Guardian) Close() error {
	if g == nil {
		return nil
	}
	g.send("bye")
	g.mu.Lock()
	w := g.w
	g.w = nil
	g.mu.Unlock()
	if w == nil {
		return nil
	}
	_ = w.Close()
	return g.cmd.Wait()
}
