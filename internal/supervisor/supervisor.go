package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// State is where a replica is in its life.
type State string

// Replica states.
const (
	// StateStarting: the process is being started.
	StateStarting State = "Starting"
	// StateRunning: the process runs but is not ready (startup or readiness
	// probe pending or failing, or the replica is stopping).
	StateRunning State = "Running"
	// StateReady: the process runs and may receive traffic.
	StateReady State = "Ready"
	// StateRestarting: the process exited and waits out its backoff.
	StateRestarting State = "Restarting"
	// StateFailed: the process could not be started again; it is retried
	// after a backoff, as Restarting is.
	StateFailed State = "Failed"
	// StateStopped: the replica was stopped; this is its last status.
	StateStopped State = "Stopped"
)

// Status is a replica's state as `cove ps` shows it.
type Status struct {
	Name, App, Revision string
	// PID is the process id of the running process, 0 when none runs.
	PID   int
	State State
	// Ready is true when the replica may receive traffic.
	Ready    bool
	Restarts int
	// LastExit says how the previous process ended: "exit status 1",
	// "signal: killed", with the probe failure that caused it, if any.
	LastExit string
	// StartedAt is when the current (or last) process started.
	StartedAt time.Time
	// Message says why the replica is not ready or could not be started.
	Message string
	// Port is the port the replica must listen on (ReplicaSpec.Port).
	Port int
	// ListenPorts are the TCP ports the replica's processes listen on
	// while Port is not among them (see ReplicaSpec.Port); nil otherwise.
	ListenPorts []int
}

// Option defaults.
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultBackoffReset   = 10 * time.Minute
	DefaultLogLines       = 1000
	DefaultMaxLineBytes   = 16 << 10
)

// Options configure a Supervisor. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Output receives each line a replica writes, without its newline;
	// stream is "stdout" or "stderr". It is called from one goroutine per
	// stream and replica, so concurrently; it may keep line. A slow Output
	// slows the replica down once its pipe is full, rather than buffering
	// without bound.
	Output func(replica string, stream string, line []byte)
	// OnChange receives the replica's status whenever its state or readiness
	// changes, in order, from one goroutine; it may call the Supervisor.
	// Delivery does not hold replicas up, so the last status (Stopped) may
	// arrive just after Stop has returned.
	OnChange func(Status)

	// BackoffInitial is the delay before the first restart; it doubles with
	// each restart up to BackoffMax. A process that ran for BackoffReset
	// starts over from BackoffInitial.
	BackoffInitial, BackoffMax, BackoffReset time.Duration
	// LogLines is how many lines per replica Logs keeps.
	LogLines int
	// MaxLineBytes is the longest line passed on whole; longer ones are split.
	MaxLineBytes int
	// Guardian, when set, is told of every replica process group so it can
	// kill them if this process dies without stopping them.
	Guardian *Guardian
	// PortCheck is how long after a process starts the supervisor first
	// looks whether it listens on its replica's Port; the wait doubles up
	// to 30 s until it does. Default 3 s.
	PortCheck time.Duration
	// Launcher is the command line of a program that calls RunLauncher
	// (cove itself, with a hidden command): replicas with a Hosts file
	// start through it, in a mount namespace of their own. Where the
	// kernel refuses the namespace, replicas start without it and a
	// warning says so once.
	Launcher []string
}

// launches reports whether a replica with a Hosts file starts through the
// launcher.
func (s *Supervisor) launches() bool { return s.outside != "" && !s.refused.Load() }

// refuse records that the kernel refused the launcher's namespaces (err);
// later replicas start without the launcher.
func (s *Supervisor) refuse(err error) {
	if s.refused.CompareAndSwap(false, true) {
		s.log.Warn("replicas cannot resolve app names: the kernel refused them a mount namespace, so they see the machine's /etc/hosts", "err", err)
	}
}

// ErrNotFound is returned for a replica name the supervisor does not know.
var ErrNotFound = errors.New("no such replica")

// Supervisor runs replicas. Its methods are safe for concurrent use.
type Supervisor struct {
	opts   Options
	log    *slog.Logger
	notify notifier
	client *http.Client

	// outside is this process's mount namespace, which the launcher leaves;
	// "" when replicas start without the launcher.
	outside string
	// refused is set once the kernel refused the launcher's namespaces.
	refused atomic.Bool

	mu       sync.Mutex
	replicas map[string]*replica
}

// New returns a Supervisor with no replicas.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = DefaultBackoffInitial
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffInitial)
	if opts.PortCheck <= 0 {
		opts.PortCheck = defaultPortCheck
	}
	if opts.BackoffReset <= 0 {
		opts.BackoffReset = DefaultBackoffReset
	}
	if opts.LogLines <= 0 {
		opts.LogLines = DefaultLogLines
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	opts.MaxLineBytes = max(opts.MaxLineBytes, 64)
	outside := ""
	if len(opts.Launcher) > 0 && isolationSupported {
		ns, err := mountNamespace()
		if err != nil {
			opts.Logger.Warn("replicas cannot resolve app names: the mount namespace is unknown", "err", err)
		}
		outside = ns
	}
	return &Supervisor{
		opts:     opts,
		outside:  outside,
		log:      opts.Logger,
		notify:   notifier{fn: opts.OnChange},
		client:   newProbeClient(nil),
		replicas: map[string]*replica{},
	}
}

// Start starts a replica and keeps it running until Stop. It returns once
// the first process has started, or with an error naming the command and
// directory when it could not be. ctx bounds only the call: the replica
// lives on after it ends.
func (s *Supervisor) Start(ctx context.Context, spec ReplicaSpec) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start replica %q: %w", spec.Name, err)
	}
	if err := supported(); err != nil {
		return fmt.Errorf("start replica %q: %w", spec.Name, err)
	}
	spec, err := spec.normalize()
	if err != nil {
		return err
	}
	r := s.newReplica(spec)
	s.mu.Lock()
	if _, ok := s.replicas[spec.Name]; ok {
		s.mu.Unlock()
		return fmt.Errorf("start replica %q: already running", spec.Name)
	}
	s.replicas[spec.Name] = r
	s.mu.Unlock()

	started := make(chan error, 1)
	go r.run(started)
	if err := <-started; err != nil {
		<-r.done
		return err
	}
	return nil
}

// Stop stops a replica gracefully: SIGTERM to its process group, SIGKILL
// after its TerminationGrace. It returns once the group is gone and Output
// has had the replica's last line; the replica is then forgotten. If ctx
// ends first, the group is killed at once and Stop returns ctx's error
// without waiting further.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	r := s.lookup(name)
	if r == nil {
		return fmt.Errorf("stop replica %q: %w", name, ErrNotFound)
	}
	return r.shutdown(ctx)
}

// Restart stops a replica's process gracefully, as Stop does, and starts
// it again at once, under the same name, with its log kept; it returns
// without waiting. Its readiness follows its probes again.
func (s *Supervisor) Restart(name string) error {
	r := s.lookup(name)
	if r == nil {
		return fmt.Errorf("restart replica %q: %w", name, ErrNotFound)
	}
	select {
	case r.restart <- struct{}{}:
	default: // one is on its way
	}
	return nil
}

// StopAll stops every replica in parallel, as Stop does. Replicas started
// while it runs are not included.
func (s *Supervisor) StopAll(ctx context.Context) error {
	s.mu.Lock()
	rs := make([]*replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		rs = append(rs, r)
	}
	s.mu.Unlock()

	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { errs[i] = r.shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Status returns a replica's current status.
func (s *Supervisor) Status(name string) (Status, bool) {
	r := s.lookup(name)
	if r == nil {
		return Status{}, false
	}
	return r.snapshot(), true
}

// List returns the status of every replica, sorted by name.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	out := make([]Status, 0, len(s.replicas))
	for _, r := range s.replicas {
		out = append(out, r.snapshot())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Logs returns up to the last n lines a replica wrote across its restarts,
// oldest first; n <= 0 returns all that are kept. It returns nil for an
// unknown replica: a stopped replica's lines go with it.
func (s *Supervisor) Logs(name string, n int) []LogLine {
	r := s.lookup(name)
	if r == nil {
		return nil
	}
	return r.logs.last(n)
}

// AddLine adds a line to a replica's log as if the replica had written it
// on stream: to what Logs returns and to Output. Lines of something that
// runs beside the process, such as its sidecar, go with the replica's own.
// A line for an unknown replica is dropped; line is not kept.
func (s *Supervisor) AddLine(name, stream string, line []byte) {
	r := s.lookup(name)
	if r == nil {
		return
	}
	r.logs.add(LogLine{Time: time.Now(), Stream: stream, Text: string(line)})
	if out := s.opts.Output; out != nil {
		out(name, stream, bytes.Clone(line))
	}
}

func (s *Supervisor) lookup(name string) *replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicas[name]
}

// remove forgets r once its goroutine is done.
func (s *Supervisor) remove(r *replica) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replicas[r.spec.Name] == r {
		delete(s.replicas, r.spec.Name)
	}
}
