package supervisor

import (
	"encoding/json"
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
// "-<pgid>" when it is gone (so a reused pgid is never killed), "!<argv>"
// for a command to run after the groups are killed (AtDeath), and "bye"
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

// AtDeath has the guardian run argv if cove dies without stopping, once
// the groups are gone: the removal of what outlives them, such as
// containers. The protocol line is "!" and argv as JSON.
func (g *Guardian) AtDeath(argv []string) {
	b, _ := json.Marshal(argv)
	g.send("!" + string(b))
}

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
