package supervisor

import (
	"errors"
	"fmt"
)

// ErrInitFailed is the cause of a start that failed because an init
// container did not exit 0.
var ErrInitFailed = errors.New("init container failed")

// runInit runs init container c to its end, in a process group of its own;
// a stop or kill of the replica meanwhile kills it.
func (r *replica) runInit(c Container) error {
	p := &process{exited: make(chan exit, 1)}
	if err := r.startContainer(p, c); err != nil {
		return err
	}
	r.sup.opts.Guardian.Add(p.pgid)
	defer r.sup.opts.Guardian.Remove(p.pgid)
	var ended exit
	select {
	case ended = <-p.exited:
		// What the init container left behind goes with it.
		p.exited <- ended
	case <-r.stop:
	case <-r.kill:
	}
	ended = <-r.killGroup(p)
	r.drainOutput(p)
	if r.stopping() {
		return fmt.Errorf("start replica %q: stopped while init container %s ran", r.spec.Name, c.Name)
	}
	if ended.state == nil || !ended.state.Success() {
		ended.container = ""
		return fmt.Errorf("start replica %q: init container %s: %s: %w; the app's containers do not start", r.spec.Name, c.Name, ended, ErrInitFailed)
	}
	return nil
}
