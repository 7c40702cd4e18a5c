package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// outputDrain is how long output is still read after a replica's group
	// is gone; only a process that escaped the group can hold the pipes
	// longer, and it is not waited for.
	outputDrain = time.Second
	// killWait bounds the wait for a group after SIGKILL: only processes in
	// uninterruptible sleep outlive it, and they must not hold up restarts
	// or Stop forever.
	killWait = 5 * time.Second
)

// replica is one supervised replica. Its goroutine (run) owns the process
// and is the only writer of status; other goroutines talk to it through
// the stop and kill channels.
type replica struct {
	sup  *Supervisor
	spec ReplicaSpec
	log  *slog.Logger
	logs *ring
	// probeClient is the supervisor's, or one that dials inside the
	// replica's network namespace.
	probeClient *http.Client

	stop     chan struct{} // closed to ask for a graceful stop
	stopOnce sync.Once
	kill     chan struct{} // closed to kill at once
	killOnce sync.Once
	done     chan struct{} // closed when run has returned
	// restart asks for a graceful restart of the running process, which
	// starts again without a backoff; restarted says one was asked for.
	restart   chan struct{}
	restarted atomic.Bool

	mu     sync.Mutex
	status Status
}

func (s *Supervisor) newReplica(spec ReplicaSpec) *replica {
	client := s.client
	if spec.Network != nil {
		client = newProbeClient(spec.Network.DialContext)
	}
	return &replica{
		probeClient: client,
		sup:         s,
		spec:        spec,
		log:         s.log.With("app", spec.App, "revision", spec.Revision, "replica", spec.Name),
		logs:        newRing(s.opts.LogLines),
		stop:        make(chan struct{}),
		kill:        make(chan struct{}),
		done:        make(chan struct{}),
		restart:     make(chan struct{}, 1),
		status: Status{
			Name: spec.Name, App: spec.App, Revision: spec.Revision,
			State: StateStarting, Port: spec.Port,
		},
	}
}

// dial connects to the replica at addr: inside its network namespace,
// when it has one.
func (r *replica) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.spec.Network != nil {
		return r.spec.Network.DialContext(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (r *replica) snapshot() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// update changes the status and reports it when its state, readiness or
// listening ports changed.
func (r *replica) update(f func(*Status)) {
	r.mu.Lock()
	old := r.status
	f(&r.status)
	st := r.status
	r.mu.Unlock()
	if st.State != old.State || st.Ready != old.Ready || !slices.Equal(st.ListenPorts, old.ListenPorts) {
		r.sup.notify.send(st)
	}
}

func (r *replica) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// shutdown asks run to stop and waits for it; when ctx ends first it has
// the group killed and returns without waiting.
func (r *replica) shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.killOnce.Do(func() { close(r.kill) })
		return fmt.Errorf("stop replica %q: killed: %w", r.spec.Name, ctx.Err())
	}
}

// run starts the replica's process, restarts it whenever it exits, and
// returns once the replica is stopped. The first start's outcome goes to
// started.
func (r *replica) run(started chan<- error) {
	// Never unlocked: the processes are forked from this thread, and with
	// Pdeathsig the kernel kills them when this thread ends (see
	// sysProcAttr). Locked, no other goroutine can run on the thread and end
	// it; when run returns, the runtime ends the thread, and by then every
	// process it forked has been reaped.
	runtime.LockOSThread()
	defer close(r.done)
	defer r.sup.remove(r)
	if r.spec.Network != nil {
		// Every process of the replica is forked from this thread, so
		// they all start in the namespace; the thread ends with run.
		if err := r.spec.Network.Enter(); err != nil {
			started <- fmt.Errorf("start replica %q: %w", r.spec.Name, err)
			return
		}
	}

	bo := backoff{initial: r.sup.opts.BackoffInitial, max: r.sup.opts.BackoffMax, reset: r.sup.opts.BackoffReset}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if r.stopping() {
				r.update(func(s *Status) { s.State, s.PID, s.Ready = StateStopped, 0, false })
				return
			}
			r.update(func(s *Status) { s.State, s.Restarts = StateStarting, s.Restarts+1 })
		}
		p, err := r.startProcess()
		var ran time.Duration
		if err != nil {
			if attempt == 0 {
				started <- err
				return
			}
			r.log.Error("replica could not be restarted", "err", err)
			r.update(func(s *Status) { s.State, s.PID, s.Ready, s.Message = StateFailed, 0, false, err.Error() })
		} else {
			exit := r.supervise(p, started)
			started = nil
			ran = time.Since(p.started)
			if r.stopping() {
				r.log.Info("replica stopped", "exit", exit)
				r.update(func(s *Status) { s.State, s.PID, s.Ready, s.LastExit = StateStopped, 0, false, exit })
				return
			}
			r.update(func(s *Status) { s.State, s.PID, s.Ready, s.LastExit = StateRestarting, 0, false, exit })
		}

		delay := bo.next(ran)
		if r.restarted.Swap(false) {
			delay = 0 // asked for, not a crash
		}
		r.log.Warn("replica will restart", "exit", r.snapshot().LastExit, "ran", ran.Round(time.Millisecond), "backoff", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
			r.update(func(s *Status) { s.State, s.PID, s.Ready = StateStopped, 0, false })
			return
		}
	}
}

// process is one run of the replica's containers, in one process group.
type process struct {
	cmd     *exec.Cmd // the main container's
	pgid    int
	started time.Time
	exited  chan exit  // one per container, the first ends the replica
	pipes   []*os.File // read ends of every container's stdout and stderr
	outputs sync.WaitGroup
}

// exit is how one container of a process ended.
type exit struct {
	container string // empty when the replica runs one
	state     *os.ProcessState
	err       error
}

func (x exit) String() string {
	s := "unknown"
	if x.state != nil {
		s = x.state.String()
	} else if x.err != nil {
		s = x.err.Error()
	}
	if x.container != "" {
		s = "container " + x.container + ": " + s
	}
	return s
}

// several reports whether the replica runs more than one container, so
// that its output and exits name them.
func (r *replica) several() bool { return len(r.spec.Init)+len(r.spec.Sidecars) > 0 }

// main is the container that Command runs.
func (r *replica) main() Container {
	return Container{Name: r.spec.Container, Command: r.spec.Command, Shell: r.spec.Shell, Dir: r.spec.Dir, Env: r.spec.Env}
}

// startProcess runs the init containers, then starts the containers.
func (r *replica) startProcess() (*process, error) {
	for _, c := range r.spec.Init {
		if err := r.runInit(c); err != nil {
			return nil, err
		}
	}
	p := &process{exited: make(chan exit, 1+len(r.spec.Sidecars))}
	if err := r.startContainer(p, r.main()); err != nil {
		return nil, err
	}
	r.sup.opts.Guardian.Add(p.pgid)
	p.started = time.Now()
	for _, c := range r.spec.Sidecars {
		if err := r.startContainer(p, c); err != nil {
			// The containers run together or not at all.
			<-r.killGroup(p)
			r.sup.opts.Guardian.Remove(p.pgid)
			r.drainOutput(p)
			return nil, err
		}
	}
	return p, nil
}

// killGroup kills p's group and waits, for killWait at most, until it is
// gone; it returns how p's first container ended.
func (r *replica) killGroup(p *process) <-chan exit {
	_ = signalGroup(p.pgid, syscall.SIGKILL)
	ended := make(chan exit, 1)
	ended <- <-p.exited
	giveUp := time.Now().Add(killWait)
	for groupAlive(p.pgid) && time.Now().Before(giveUp) {
		time.Sleep(5 * time.Millisecond)
	}
	return ended
}

// startContainer starts c in p's process group, or as its leader when p
// has none yet; its output goes to p's pipes and its end to p.exited.
func (r *replica) startContainer(p *process, c Container) error {
	streams := [...]string{"stdout", "stderr"}
	path, args := c.Command[0], c.Command
	if c.Shell {
		path = "/bin/sh"
		args = append([]string{path, "-c", c.Command[0], r.spec.Name}, c.Command[1:]...)
	} else {
		var err error
		if path, err = lookPath(path, c.Env); err != nil {
			return r.startError(c, err)
		}
	}

	// Pipes of our own rather than cmd.StdoutPipe: Wait must not wait for
	// the output, which children that outlive the main process may hold.
	var readers, writers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	for range streams {
		rd, wr, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			return r.startError(c, err)
		}
		readers, writers = append(readers, rd), append(writers, wr)
	}
	newCmd := func() *exec.Cmd {
		attr := sysProcAttr()
		if attr != nil && p.pgid != 0 {
			attr.Pgid = p.pgid
		}
		return &exec.Cmd{Path: path, Args: args, Dir: c.Dir, Env: c.Env, SysProcAttr: attr,
			Stdout: writers[0], Stderr: writers[1]}
	}
	var cmd *exec.Cmd
	var err error
	if r.spec.Network != nil && r.spec.Network.Command(nil) != nil {
		var launcher []string
		if r.sup.launches() {
			launcher = r.sup.opts.Launcher
		}
		cmd, err = startJoined(newCmd, r.spec.Network, launcher, r.spec.Hosts, r.sup.outside)
	} else if r.spec.Hosts != "" && r.sup.launches() {
		var refused error
		cmd, refused, err = startLaunched(newCmd, r.sup.opts.Launcher, r.spec.Hosts, r.sup.outside)
		if refused != nil {
			r.sup.refuse(refused)
		}
	} else {
		cmd = newCmd()
		err = cmd.Start()
	}
	closeAll(writers) // the child has its own copies
	if err != nil {
		closeAll(readers)
		return r.startError(c, err)
	}
	if p.cmd == nil {
		p.cmd = cmd
		p.pgid = cmd.Process.Pid // Setpgid makes the child lead a group of its own
	}
	prefix := ""
	if r.several() {
		prefix = c.Name + ": "
	}
	for i, stream := range streams {
		p.outputs.Go(func() { r.capture(stream, prefix, readers[i]) })
	}
	p.pipes = append(p.pipes, readers...)
	name := ""
	if r.several() {
		name = c.Name
	}
	go func() {
		err := cmd.Wait()
		p.exited <- exit{container: name, state: cmd.ProcessState, err: err}
	}()
	return nil
}

func (r *replica) startError(c Container, err error) error {
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	what := ""
	if r.several() {
		what = "container " + c.Name + ": "
	}
	return fmt.Errorf("start replica %q: %srun %q in directory %q: %w", r.spec.Name, what, c.Command, dir, err)
}

// capture hands each line of one output stream to Output and the log ring.
func (r *replica) capture(stream, prefix string, f *os.File) {
	out := r.sup.opts.Output
	err := readLines(f, r.sup.opts.MaxLineBytes, func(line []byte) {
		if prefix != "" {
			line = append([]byte(prefix), line...)
		}
		r.logs.add(LogLine{Time: time.Now(), Stream: stream, Text: string(line)})
		if out != nil {
			out(r.spec.Name, stream, bytes.Clone(line))
		}
	})
	if err != nil {
		r.log.Warn("reading replica output", "stream", stream, "err", err)
	}
}

// supervise runs the probes of a started process and acts on them, on stop
// and kill requests, until the process and its group are gone. It returns
// how the process ended.
func (r *replica) supervise(p *process, started chan<- error) string {
	ctx, cancelProbes := context.WithCancel(context.Background())
	defer cancelProbes()
	events := make(chan probeEvent)
	var probers sync.WaitGroup
	runProbe := func(t ProbeType) bool {
		pr, ok := r.spec.probe(t)
		if !ok {
			return false
		}
		pb := &prober{probe: pr, check: checker(pr, r.spec.Host, r.probeClient, r.dial), started: p.started, events: events}
		probers.Go(func() { pb.run(ctx) })
		return true
	}
	// The startup probe holds the others back; a missing probe passes.
	startedOK := !runProbe(Startup)
	readyOK := true
	if startedOK {
		readyOK = !runProbe(Readiness)
		runProbe(Liveness)
	}

	var (
		terminating bool
		reason      string // why the replica is being restarted, if it is
		message     string // why it is not ready
		killed      bool
		grace       *time.Timer
		graceC      <-chan time.Time
		stopC       = r.stop
		killC       = r.kill
	)
	setReady := func() {
		ready := startedOK && readyOK && !terminating
		r.update(func(s *Status) {
			s.Ready, s.State, s.Message = ready, StateRunning, message
			if ready {
				s.State, s.Message = StateReady, ""
			}
		})
	}
	signal := func(sig syscall.Signal) {
		killed = killed || sig == syscall.SIGKILL
		if err := signalGroup(p.pgid, sig); err != nil {
			r.log.Warn("signalling replica", "signal", sig.String(), "err", err)
		}
	}
	terminate := func(why string) {
		if terminating {
			return
		}
		terminating, reason = true, why
		cancelProbes()
		setReady()
		if r.spec.TerminationGrace < 0 {
			signal(syscall.SIGKILL)
			return
		}
		signal(syscall.SIGTERM)
		grace = time.NewTimer(r.spec.TerminationGrace)
		graceC = grace.C
	}
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()

	r.update(func(s *Status) { s.PID, s.StartedAt, s.Message, s.ListenPorts = p.cmd.Process.Pid, p.started, "", nil })
	setReady()
	if r.spec.Port != 0 {
		probers.Go(func() { r.watchPort(ctx, p.pgid) })
	}
	if started != nil {
		started <- nil
	}
	r.log.Info("replica started", "pid", p.cmd.Process.Pid)

	var ended exit
wait:
	for {
		select {
		case ended = <-p.exited:
			break wait
		case ev := <-events:
			if terminating {
				continue
			}
			switch ev.kind {
			case probeStarted:
				startedOK = true
				readyOK = !runProbe(Readiness)
				runProbe(Liveness)
			case probeReady:
				readyOK, message = true, ""
			case probeNotReady:
				readyOK, message = false, ev.err.Error()
			case probeFailed:
				message = fmt.Sprintf("%s probe failed: %v", strings.ToLower(string(ev.probe)), ev.err)
				r.log.Warn("restarting replica", "reason", message)
				terminate(message)
			}
			setReady()
		case <-stopC:
			stopC = nil
			r.log.Info("stopping replica", "grace", r.spec.TerminationGrace)
			terminate("")
		case <-r.restart:
			r.log.Info("restarting replica on request", "grace", r.spec.TerminationGrace)
			r.restarted.Store(true)
			terminate("restarted on request")
		case <-killC:
			killC = nil
			signal(syscall.SIGKILL)
		case <-graceC:
			graceC = nil
			r.log.Warn("replica outlived its grace period, killing it")
			signal(syscall.SIGKILL)
		}
	}
	cancelProbes()
	probers.Wait()
	r.update(func(s *Status) { s.ListenPorts = nil })

	if !terminating {
		// As when a container's main process exits: the rest of it goes too.
		signal(syscall.SIGKILL)
	}
	// The main process is gone; on a graceful stop the rest of the group
	// keeps its grace period to finish.
	poll := 5 * time.Millisecond
	var giveUp <-chan time.Time
group:
	for groupAlive(p.pgid) {
		if killed && giveUp == nil {
			giveUp = time.After(killWait)
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-graceC:
			graceC = nil
			signal(syscall.SIGKILL)
		case <-killC:
			killC = nil
			signal(syscall.SIGKILL)
		case <-giveUp:
			r.log.Error("replica processes survive SIGKILL; giving up on them", "pgid", p.pgid)
			t.Stop()
			break group
		}
		t.Stop()
		poll = min(2*poll, 100*time.Millisecond)
	}
	r.sup.opts.Guardian.Remove(p.pgid)
	r.drainOutput(p)

	how := ended.String()
	if reason != "" {
		how = reason + " (" + how + ")"
	}
	return how
}

// drainOutput waits for the output readers to reach the end of the pipes,
// or stops them after outputDrain, and closes the pipes.
func (r *replica) drainOutput(p *process) {
	done := make(chan struct{})
	go func() {
		p.outputs.Wait()
		close(done)
	}()
	t := time.NewTimer(outputDrain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.log.Warn("a process that left the replica's group still holds its output; no longer reading it")
		for _, f := range p.pipes {
			_ = f.SetReadDeadline(time.Now())
		}
		<-done
	}
	for _, f := range p.pipes {
		_ = f.Close()
	}
}
