package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ProbeType says what a probe decides, as in ACA's probes[].type.
type ProbeType string

// The probe types of ACA and Kubernetes.
const (
	// Liveness restarts the replica after FailureThreshold consecutive failures.
	Liveness ProbeType = "Liveness"
	// Readiness decides whether the replica receives traffic.
	Readiness ProbeType = "Readiness"
	// Startup holds liveness and readiness back until it first succeeds and
	// restarts the replica after FailureThreshold consecutive failures.
	Startup ProbeType = "Startup"
)

// Probe defaults, the same as Kubernetes' and ACA's.
const (
	DefaultProbePeriod      = 10 * time.Second
	DefaultProbeTimeout     = time.Second
	DefaultFailureThreshold = 3
	DefaultSuccessThreshold = 1
	// DefaultTerminationGrace is how long a stopping replica has between
	// SIGTERM and SIGKILL, as in ACA.
	DefaultTerminationGrace = 30 * time.Second
)

// HTTPGetAction probes with an HTTP GET; a status from 200 to 399 succeeds.
type HTTPGetAction struct {
	// Path defaults to "/" and may carry a query.
	Path string
	Port int
	// Scheme is "HTTP" (the default) or "HTTPS"; certificates are not
	// verified, as in Kubernetes.
	Scheme string
	// Headers are sent with the request; a "Host" header sets the host.
	Headers http.Header
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	Port int
}

// Probe is one health check of a replica. Exactly one of HTTPGet and
// TCPSocket is set. Zero durations and thresholds take the defaults.
type Probe struct {
	Type      ProbeType
	HTTPGet   *HTTPGetAction
	TCPSocket *TCPSocketAction

	// InitialDelay counts from the start of the process.
	InitialDelay time.Duration
	Period       time.Duration
	Timeout      time.Duration
	// SuccessThreshold is the number of consecutive successes that make a
	// replica ready again; it must be 1 for liveness and startup probes.
	SuccessThreshold int
	FailureThreshold int
}

// ReplicaSpec describes one replica process.
type ReplicaSpec struct {
	// Name identifies the replica within the supervisor.
	Name     string
	App      string
	Revision string

	// Command is the program and its arguments. A bare program name is looked
	// up in the PATH of Env; a relative path is relative to Dir.
	Command []string
	// Shell runs Command[0] as a script with /bin/sh -c; Command[1:] become
	// its positional parameters $1, $2, ... and $0 is the replica's name.
	Shell bool
	// Dir is the working directory; empty means cove's own.
	Dir string
	// Env is the full environment, KEY=VALUE; nothing is inherited from cove.
	Env []string
	// Hosts, when set, is a hosts file the replica sees as /etc/hosts, so it
	// resolves the environment's app names as a container of ACA does.
	// It needs Options.Launcher and Linux mount namespaces; without them the
	// replica sees the machine's /etc/hosts (see Options.Launcher).
	Hosts string

	// Network, when set, is the network namespace the replica's containers
	// run in (each replica's own): they are started from a thread that
	// entered it, and probes and the port watch look inside it.
	Network Network

	// Host is the address probes dial, 127.0.0.1 by default.
	Host   string
	Probes []Probe
	// Port is the port the replica must listen on (its PORT), 0 when it
	// declares none. While it stays closed and the replica's processes
	// listen on other TCP ports (an app with a fixed port in its code),
	// Status.ListenPorts names them and a warning says what to do.
	Port int

	// Container names the container Command runs; with Init or Sidecars,
	// each output line starts with the name of the container it came from.
	Container string
	// Init run in order, each to exit 0, before Command starts (ACA's
	// initContainers); one that fails makes the start fail.
	Init []Container
	// Sidecars run beside Command, in its process group (ACA's further
	// containers): the replica ends, and restarts, when any of them exits.
	Sidecars []Container

	// TerminationGrace is the time between SIGTERM and SIGKILL when the
	// replica stops: zero means DefaultTerminationGrace, negative means
	// SIGKILL at once.
	TerminationGrace time.Duration
}

// Network is a network namespace a replica runs in.
type Network interface {
	// Enter moves the calling thread into the namespace for good; the
	// thread is locked and ends with its goroutine. Processes it forks
	// afterwards are inside, unless Command says otherwise.
	Enter() error
	// Command returns the command line that starts argv inside the
	// namespace, where a forked process would not be (a namespace of a
	// user namespace, which a thread cannot enter); nil elsewhere.
	Command(argv []string) []string
	// DialContext connects to an address inside the namespace.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Container is one more process of a replica, run as ReplicaSpec's
// Command is: its fields mean what the spec's fields of the same names do.
type Container struct {
	Name    string
	Command []string
	Shell   bool
	Dir     string
	Env     []string
}

// normalize validates the spec and returns a copy with every default filled
// in, reporting all problems at once.
func (s ReplicaSpec) normalize() (ReplicaSpec, error) {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		errs = append(errs, errors.New("command is empty"))
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.TerminationGrace == 0 {
		s.TerminationGrace = DefaultTerminationGrace
	}
	s.Command = slices.Clone(s.Command)
	s.Env = slices.Clone(s.Env)
	if s.Env == nil {
		// A nil Env would make os/exec inherit cove's environment.
		s.Env = []string{}
	}
	s.Init, s.Sidecars = slices.Clone(s.Init), slices.Clone(s.Sidecars)
	if len(s.Init)+len(s.Sidecars) > 0 && s.Container == "" {
		errs = append(errs, errors.New("container is empty: the lines of a replica with several containers name theirs"))
	}
	for _, cs := range [][]Container{s.Init, s.Sidecars} {
		for i, c := range cs {
			if c.Name == "" {
				errs = append(errs, fmt.Errorf("a container without a name runs %q", c.Command))
			}
			if len(c.Command) == 0 || c.Command[0] == "" {
				errs = append(errs, fmt.Errorf("container %s: command is empty", c.Name))
			}
			cs[i].Command, cs[i].Env = slices.Clone(c.Command), slices.Clone(c.Env)
			if cs[i].Env == nil {
				cs[i].Env = []string{}
			}
		}
	}

	probes := make([]Probe, 0, len(s.Probes))
	seen := map[ProbeType]bool{}
	for i, p := range s.Probes {
		p, err := p.normalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("probes[%d]: %w", i, err))
			continue
		}
		if seen[p.Type] {
			errs = append(errs, fmt.Errorf("probes[%d]: a second %s probe", i, p.Type))
			continue
		}
		seen[p.Type] = true
		probes = append(probes, p)
	}
	s.Probes = probes
	if len(errs) > 0 {
		return ReplicaSpec{}, fmt.Errorf("invalid replica spec %q: %w", s.Name, errors.Join(errs...))
	}
	return s, nil
}

// probe returns the spec's probe of type t, if any.
func (s ReplicaSpec) probe(t ProbeType) (Probe, bool) {
	for _, p := range s.Probes {
		if p.Type == t {
			return p, true
		}
	}
	return Probe{}, false
}

func (p Probe) normalize() (Probe, error) {
	var errs []error
	switch p.Type {
	case Liveness, Readiness, Startup:
	default:
		errs = append(errs, fmt.Errorf("unknown type %q (want %s, %s or %s)", p.Type, Liveness, Readiness, Startup))
	}
	switch {
	case p.HTTPGet == nil && p.TCPSocket == nil:
		errs = append(errs, errors.New("neither httpGet nor tcpSocket is set"))
	case p.HTTPGet != nil && p.TCPSocket != nil:
		errs = append(errs, errors.New("both httpGet and tcpSocket are set"))
	case p.HTTPGet != nil:
		h := *p.HTTPGet
		h.Headers = h.Headers.Clone()
		if err := checkPort(h.Port); err != nil {
			errs = append(errs, fmt.Errorf("httpGet: %w", err))
		}
		if !strings.HasPrefix(h.Path, "/") {
			h.Path = "/" + h.Path
		}
		switch strings.ToUpper(h.Scheme) {
		case "", "HTTP":
			h.Scheme = "http"
		case "HTTPS":
			h.Scheme = "https"
		default:
			errs = append(errs, fmt.Errorf("httpGet: unknown scheme %q (want HTTP or HTTPS)", h.Scheme))
		}
		if _, err := url.ParseRequestURI(h.Path); err != nil {
			errs = append(errs, fmt.Errorf("httpGet: bad path: %w", err))
		}
		p.HTTPGet = &h
	default:
		t := *p.TCPSocket
		if err := checkPort(t.Port); err != nil {
			errs = append(errs, fmt.Errorf("tcpSocket: %w", err))
		}
		p.TCPSocket = &t
	}
	if p.InitialDelay < 0 || p.Period < 0 || p.Timeout < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if p.SuccessThreshold < 0 || p.FailureThreshold < 0 {
		errs = append(errs, errors.New("negative threshold"))
	}
	if p.Type != Readiness && p.SuccessThreshold > 1 {
		errs = append(errs, fmt.Errorf("successThreshold must be 1 for a %s probe", p.Type))
	}
	if p.Period == 0 {
		p.Period = DefaultProbePeriod
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultProbeTimeout
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if len(errs) > 0 {
		return Probe{}, fmt.Errorf("%s probe: %w", p.Type, errors.Join(errs...))
	}
	return p, nil
}

func checkPort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d out of range 1-65535", port)
	}
	return nil
}
