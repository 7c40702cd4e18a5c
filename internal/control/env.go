package control

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/engine"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// StateDirName is the directory, beside the environment file, where cove
// keeps its state: the management socket, embedded databases and builds.
const StateDirName = ".cove"

// SocketName is the management API's unix socket inside the state directory.
const SocketName = "cove.sock"

// JobsFileName is the environment's jobs database, in its state directory.
const JobsFileName = "jobs.db"

// DefaultHTTPSPort is the edge's HTTPS port unless Options.HTTPSPort says
// otherwise.
const DefaultHTTPSPort = 8443

// Options configure an environment run.
type Options struct {
	Spec *spec.Environment
	// HTTPPort overrides the edge's HTTP port from the environment file
	// when non-zero.
	HTTPPort int
	// APIAddr, when set (host:port), serves the management API over TCP
	// too, with the bearer token of the state directory's api-token.
	APIAddr string
	// HTTPSPort is the edge's HTTPS port when non-zero. When zero,
	// DefaultHTTPSPort is used, or a free port if another process holds it,
	// so several environments can run side by side.
	HTTPSPort int
	Logger    *slog.Logger
	// Events receives progress: components loaded, builds, replicas
	// starting and becoming ready. It is called from several goroutines.
	Events func(Event)
	// Output receives every line the apps write.
	Output func(app, replica, stream string, line []byte)
	// StopGrace bounds a graceful stop of all replicas; zero uses each
	// revision's terminationGracePeriodSeconds.
	StopGrace time.Duration
	// Force, when closed during a stop, kills the replicas at once.
	Force <-chan struct{}
	// RevisionTimeout bounds how long a reload waits for a new revision's
	// replicas to be ready; zero means DefaultRevisionTimeout.
	RevisionTimeout time.Duration
	// Guardian is the command line of a guardian process (see
	// supervisor.Guardian) that kills the replicas if cove dies without
	// stopping them; empty runs without one.
	Guardian []string
	// Apps, when set, are the only apps of the file that run (cove up
	// APP...); reloads leave the file's others out too, but run an app
	// added to it since (cove containerapp create).
	Apps []string
	// Registry is the directory of the user's registry of running
	// environments (see RegistryDir) this one is listed in while it runs;
	// empty lists it nowhere.
	Registry string
	// Launcher is the command line of the replica launcher (see
	// supervisor.Options.Launcher), through which replicas resolve the
	// environment's app names; empty leaves them the machine's /etc/hosts.
	Launcher []string
	// PodRunner is the command line of the pod runner (this binary's
	// hidden command that calls engine.RunPod), as which container-mode
	// replicas run; empty leaves container-mode apps unable to start.
	PodRunner []string
	// NetnsHolder is the command line of the network namespace holder
	// (this binary's hidden command that calls netns.RunHolder), through
	// which cove, when not root, gives process replicas with network:
	// namespace a namespace inside a user namespace; empty leaves them
	// to root.
	NetnsHolder []string
}

// EventKind names a progress event.
type EventKind string

// Progress events, in the order a start produces them.
const (
	EventComponent    EventKind = "component"
	EventBuild        EventKind = "build"
	EventReplicaStart EventKind = "replica-started"
	EventReplicaReady EventKind = "replica-ready"
	EventReplicaDown  EventKind = "replica-not-ready"
	// EventAppNotReady: once every replica of the first revisions is ready
	// or has failed, one per app with a replica that failed (Message says
	// why, Lines are its last output), just before EventReady.
	EventAppNotReady EventKind = "app-not-ready"
	EventReady       EventKind = "ready"
	EventStopping    EventKind = "stopping"
	// EventRevision: a reload made a revision active, or stopped one.
	EventRevision EventKind = "revision"
)

// Event is one progress report.
type Event struct {
	Kind      EventKind
	App       string
	Replica   string
	Component string
	Message   string
	Err       error
	// Lines are a failed replica's last lines of output (EventAppNotReady).
	Lines []string
	// Status is set on EventReady: the environment as it now runs.
	Status *Status
}

// Env is the controller of a running environment: it starts its
// components and apps on the plane openPlane built, rolls revisions out and
// retires them, keeps the routing table in step with the replicas'
// readiness, applies reloads and stops everything. Run hands it the plane;
// the management API reaches it only through the managed interface.
type Env struct {
	*plane
	// ports hands out the replicas' ports on the machine.
	ports portAllocator
	// engine runs container-mode apps; nil without one, engineErr says why.
	engine    *engine.Engine
	engineErr error
	// limitWarned holds the resources whose limits the engine cannot
	// apply, once warned about.
	limitWarned sync.Map

	comps *resources.Set
	// placement says which replica hosts which actor, across the
	// environment's apps and revisions.
	placement *actors.Placement
	// scheduler keeps the environment's jobs and fires them.
	scheduler *jobs.Scheduler
	// reloadMu serialises reloads and TCP listener changes; it is taken
	// before mu, never while holding it.
	reloadMu sync.Mutex
	// tcp are the edge's TCP listeners by address.
	tcp map[string]*tcpListener
	// applied is each app's ingress as last applied (at start or by a
	// reload), under reloadMu; components, the components (nil until a
	// reload: the file's at start).
	applied    map[string]*spec.Ingress
	components []*spec.ComponentEntry
	// skipped are the apps of the file `cove up APP...` did not run;
	// reloads leave them out too.
	skipped map[string]bool

	// api is where the management API serves over TCP; nil when it does
	// not. Set before the environment starts.
	api *APIStatus
	// revTimes records when revisions were created (revisionCreated).
	revTimesOnce sync.Once
	revTimes     *revisionTimes

	mu   sync.Mutex
	apps []*appRuntime
	// gone are apps a reload removed or replaced whose building blocks
	// were still open when the environment began to stop.
	gone      []*appRuntime
	goneComps []*resources.Component
	replicas  map[string]*replicaRuntime
	// launched is set once every app's first replicas have been started;
	// before, a ready replica does not make the environment ready, for
	// others are still to come. settled is set once every replica has been
	// ready or has failed, and EventReady sent.
	launched bool
	settled  bool
	stopping bool // replicas going down are expected, not reported

	// stopCh is closed when the environment starts stopping, which ends a
	// reload's waits; retiring counts revisions being stopped in the
	// background.
	stopCh   chan struct{}
	retiring sync.WaitGroup
}

// start loads the components, starts every app's first revision and opens
// the edge's TCP listeners.
func (e *Env) start(ctx context.Context) error {
	comps, err := loadComponents(ctx, e.spec, e.stateDir, "http://"+e.internalLn.Addr().String(), e.log, e.opts.Events)
	e.mu.Lock()
	e.comps = comps
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if err := e.startApps(ctx); err != nil {
		return err
	}
	return e.syncTCP()
}

// stop stops replicas, then sidecars, then components. A reload in
// progress gives up first, stopping the revision it was starting.
func (e *Env) stop() error {
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	close(e.stopCh)
	// Held to the end: a reload in progress finishes first, none starts.
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.opts.Events(Event{Kind: EventStopping, Message: "stopping replicas"})
	ctx, cancel := context.WithTimeout(context.Background(), e.stopGrace()+10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-e.opts.Force:
			cancel()
		case <-ctx.Done():
		}
	}()
	var errs []error
	// Sidecars stop taking pub/sub events before their apps are stopped.
	e.mu.Lock()
	subscribed := make([]*replicaRuntime, 0, len(e.replicas))
	for _, r := range e.replicas {
		subscribed = append(subscribed, r)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range subscribed {
		wg.Go(r.stopSubscriptions)
	}
	wg.Wait()
	if e.sup != nil {
		if err := e.sup.StopAll(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop replicas: %w", err))
		}
	}
	e.retiring.Wait()
	e.removePods()
	e.mu.Lock()
	reps := make([]*replicaRuntime, 0, len(e.replicas))
	for _, r := range e.replicas {
		reps = append(reps, r)
	}
	e.mu.Unlock()
	for _, r := range reps {
		if err := r.closeSidecar(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop sidecar of %s: %w", r.name, err))
		}
	}
	for _, a := range append(e.apps, e.gone...) {
		a.closeDapr()
	}
	if e.invoker != nil {
		e.invoker.Close()
	}
	errs = append(errs, e.comps.Close(), resources.Close(e.goneComps))
	return errors.Join(errs...)
}

// onlyApps returns env with only the named apps, in the file's order; all
// of them when names is empty. A name the file lacks is an error that
// lists the file's apps.
func onlyApps(env *spec.Environment, names []string) (*spec.Environment, error) {
	if len(names) == 0 {
		return env, nil
	}
	var all []string
	byName := map[string]bool{}
	for _, entry := range env.Apps {
		all = append(all, entry.App.Name)
		byName[entry.App.Name] = true
	}
	for _, n := range names {
		if !byName[n] {
			return nil, fmt.Errorf("no app named %q in %s; its apps are %s", n, env.File, strings.Join(all, ", "))
		}
	}
	sub := *env
	sub.Apps = nil
	for _, entry := range env.Apps {
		if slices.Contains(names, entry.App.Name) {
			sub.Apps = append(sub.Apps, entry)
		}
	}
	return &sub, nil
}

// maxDaprRequestSize is the largest httpMaxRequestSize of the environment's
// Dapr apps in bytes (Dapr's default 4 MB when unset): the invoker's gRPC
// message limit, which one invoker shares across apps.
func maxDaprRequestSize(env *spec.Environment) int {
	size := sidecar.DefaultMaxRequestBodySize
	for _, entry := range env.Apps {
		if d := entry.App.Properties.Configuration.Dapr; d != nil && d.Enabled {
			size = max(size, d.HTTPMaxRequestSize<<20)
		}
	}
	return size
}

func (e *Env) stopGrace() time.Duration {
	if e.opts.StopGrace > 0 {
		return e.opts.StopGrace
	}
	grace := 30 * time.Second
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.apps {
		for _, r := range a.revisions {
			grace = max(grace, r.grace)
		}
	}
	return grace
}

// output forwards a line of app output with its app name.
func (e *Env) output(replica, stream string, line []byte) {
	e.mu.Lock()
	r := e.replicas[replica]
	e.mu.Unlock()
	app := ""
	if r != nil {
		app = r.app.name
	}
	e.opts.Output(app, replica, stream, line)
}

// replicaLog is a logger whose lines join what a replica writes, as the
// given stream, so `cove up` and `cove logs` show them with the app's own.
// It drops records below level. They carry no time, which the log keeps
// beside each line.
func (e *Env) replicaLog(replica, stream string, level slog.Level) *slog.Logger {
	w := lineWriter(func(p []byte) { e.sup.AddLine(replica, stream, bytes.TrimSuffix(p, []byte("\n"))) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// lineWriter takes the one line a slog handler writes per record.
type lineWriter func([]byte)

func (w lineWriter) Write(p []byte) (int, error) {
	w(p)
	return len(p), nil
}

// replicaChanged keeps the routing table in step with readiness.
func (e *Env) replicaChanged(st supervisor.Status) {
	e.mu.Lock()
	r := e.replicas[st.Name]
	if r == nil {
		e.mu.Unlock()
		return
	}
	wasReady := r.ready
	r.ready = st.Ready
	r.failure = failure(st)
	e.routes.Store(e.tableLocked())
	// Replicas of a revision being stopped go down as expected.
	stopping := e.stopping || r.rev.state == revStopping
	settled := e.settleLocked()
	var addrs []string
	if exited(st.State) || st.Ready && !wasReady {
		addrs = r.addrs()
	}
	e.mu.Unlock()

	// Connections kept alive to a process that exited are dead, and one
	// started again listens on the same ports: drop them when it exits,
	// and again when it is ready, for any a call ending late put back.
	if len(addrs) > 0 {
		e.edge.ReplicaExited(addrs...)
		e.invoker.ReplicaExited(addrs...)
	}
	if r.sidecar != nil {
		r.sidecar.SetAppHealthy(st.Ready)
	}

	switch {
	case st.Ready && !wasReady:
		e.opts.Events(Event{Kind: EventReplicaReady, App: r.app.name, Replica: r.name})
	case !st.Ready && wasReady && !stopping:
		e.opts.Events(Event{Kind: EventReplicaDown, App: r.app.name, Replica: r.name, Message: st.LastExit})
	}
	if settled {
		e.reportReady()
	}
}

// exited reports whether a replica in state s has no process.
func exited(s supervisor.State) bool {
	return s == supervisor.StateRestarting || s == supervisor.StateFailed || s == supervisor.StateStopped
}

// addrs are the replica's loopback addresses the edge and invocations
// reach it at.
func (r *replicaRuntime) addrs() []string {
	out := []string{net.JoinHostPort("127.0.0.1", fmt.Sprint(r.port))}
	for _, p := range r.extraPorts {
		out = append(out, net.JoinHostPort("127.0.0.1", fmt.Sprint(p)))
	}
	return out
}

// failure says why a replica failed: it listens on other ports than its
// PORT, or it is not ready because its process exited (or could not be
// started again); empty otherwise.
func failure(st supervisor.Status) string {
	switch {
	case len(st.ListenPorts) > 0:
		// Ready or not (without probes it is), calls to it are refused.
		return fmt.Sprintf("listens on %s, not on its PORT %d: make the app listen on the port in $PORT",
			supervisor.PortList(st.ListenPorts), st.Port)
	case st.Ready:
		return ""
	case st.State == supervisor.StateFailed:
		return cmp.Or(st.Message, "could not be started")
	case st.State == supervisor.StateRestarting || st.Restarts > 0:
		return "exited (" + cmp.Or(st.LastExit, "unknown status") + ")"
	}
	return ""
}

// settleLocked marks the environment settled when every app's first
// replicas have been started and each is ready or has failed, and reports
// whether it just became so: one app that crashes at start must not keep
// the others' summary from the user.
func (e *Env) settleLocked() bool {
	if !e.launched || e.settled || len(e.replicas) == 0 {
		return false
	}
	for _, r := range e.replicas {
		if !r.ready && r.failure == "" {
			return false
		}
	}
	e.settled = true
	return true
}

// reportReady sends, for each app with a failed replica, EventAppNotReady
// with the replica's last lines, then EventReady with the environment's
// status.
func (e *Env) reportReady() {
	s := e.status()
	for _, a := range s.Apps {
		if a.Problem == "" {
			continue
		}
		ev := Event{Kind: EventAppNotReady, App: a.Name, Message: a.Problem}
		for _, r := range a.Replicas {
			if !r.Ready {
				for _, l := range e.sup.Logs(r.Name, 5) {
					ev.Lines = append(ev.Lines, l.Text)
				}
				break
			}
		}
		e.opts.Events(ev)
	}
	e.opts.Events(Event{Kind: EventReady, Status: &s})
}

// tableLocked builds a routing table from the active revisions and their
// ready replicas.
func (e *Env) tableLocked() *routing.Table {
	apps := make([]*routing.App, 0, len(e.apps))
	for _, a := range e.apps {
		ra := &routing.App{Name: a.name, DaprAppID: a.daprAppID, AppProtocol: e.appProtocol(a), Ingress: a.ingress}
		for _, rev := range a.revisions {
			if rev.state != revActive {
				continue
			}
			rr := &routing.Revision{Name: rev.name, Weight: rev.weight}
			for _, l := range rev.labels {
				rr.Aliases = append(rr.Aliases, a.name+"---"+l)
			}
			for _, r := range rev.replicas {
				if !r.ready {
					continue
				}
				ep := routing.Endpoint{
					App: a.name, Revision: rev.name, Replica: r.name,
					Addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(r.port)),
				}
				for target, port := range r.extraPorts {
					if ep.Ports == nil {
						ep.Ports = map[int]string{}
					}
					ep.Ports[target] = net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
				}
				rr.Endpoints = append(rr.Endpoints, ep)
			}
			ra.Revisions = append(ra.Revisions, rr)
		}
		apps = append(apps, ra)
	}
	// What a replica reaches as localhost through the internal proxy:
	// its own and the other replicas' ports and their sidecars' HTTP APIs.
	local := make([]int, 0, 3*len(e.replicas))
	for _, r := range e.replicas {
		local = append(local, r.port, r.daprHTTPPort)
		for _, p := range r.extraPorts {
			local = append(local, p)
		}
	}
	return routing.NewTable(apps).WithLocalPorts(local)
}

// Status reports the environment as it runs now, with the containers of
// its container-mode replicas as the engine lists them.
func (e *Env) Status(ctx context.Context) Status {
	st := e.status()
	e.addContainers(ctx, &st)
	return st
}

// status is Status without asking the engine for containers.
func (e *Env) status() Status {
	st := Status{
		Name: e.spec.Name, File: e.spec.File, PID: os.Getpid(),
		Edge: EdgeStatus{HTTP: e.publicLn.Addr().String(), HTTPS: e.tlsLn.Addr().String(), Internal: e.internalLn.Addr().String()},
		API:  e.api,
	}
	_, httpPort, _ := net.SplitHostPort(e.publicLn.Addr().String())
	_, httpsPort, _ := net.SplitHostPort(e.tlsLn.Addr().String())
	if e.httpsTaken {
		st.Edge.HTTPSTaken = DefaultHTTPSPort
	}
	active := map[string]bool{}     // revisions
	failures := map[string]string{} // replicas' (replicaRuntime.failure)
	sidecars := map[string][]*sidecar.Sidecar{}
	e.mu.Lock()
	for _, a := range e.apps {
		as := AppStatus{Name: a.name, Ingress: "none", DaprAppID: a.daprAppID}
		latest := a.latestLocked()
		if latest != nil {
			as.Revision = latest.name
		}
		if a.ingress != nil {
			as.Ingress = "internal"
			if a.ingress.External {
				as.Ingress = "external"
				// Plain HTTP redirects to HTTPS unless allowInsecure.
				as.URLs = []string{fmt.Sprintf("https://%s.%s:%s", a.name, e.spec.Domain, httpsPort)}
				if a.ingress.AllowInsecure {
					as.URLs = append([]string{fmt.Sprintf("http://%s.%s:%s", a.name, e.spec.Domain, httpPort)}, as.URLs...)
				}
			} else {
				as.URLs = []string{fmt.Sprintf("http://%s (inside the environment)", a.name)}
			}
			if a.ingress.IsTCP() {
				host := e.spec.Edge.Address
				if !a.ingress.External {
					host = a.name // through the internal proxy
				}
				as.URLs = []string{fmt.Sprintf("tcp://%s", net.JoinHostPort(host, fmt.Sprint(a.ingress.ExposedPort)))}
			}
			as.URL = as.URLs[0]
		}
		// Newest first: the revision a reload just started, then the
		// latest and the older ones still active or stopping.
		for _, rev := range slices.Backward(a.revisions) {
			rs := RevisionStatus{Name: rev.name, State: string(rev.state), Latest: rev == latest, Replicas: len(rev.replicas), Created: rev.created}
			if rev.state == revActive {
				active[rev.name] = true
				rs.Weight, rs.Labels = rev.weight, slices.Clone(rev.labels)
			}
			for _, r := range rev.replicas {
				if r.ready {
					rs.Ready++
				}
				as.Replicas = append(as.Replicas, ReplicaStatus{Name: r.name, Revision: rev.name, Port: r.port, DaprHTTPPort: r.daprHTTPPort, DaprGRPCPort: r.daprGRPCPort, Ready: r.ready})
				failures[r.name] = r.failure
				if r.sidecar != nil {
					sidecars[a.name] = append(sidecars[a.name], r.sidecar)
				}
			}
			as.Revisions = append(as.Revisions, rs)
		}
		st.Apps = append(st.Apps, as)
	}
	comps := e.comps
	e.mu.Unlock()
	// The supervisor is asked without holding e.mu (see docs/architecture.md).
	for i := range st.Apps {
		for j := range st.Apps[i].Replicas {
			rs := &st.Apps[i].Replicas[j]
			s, ok := e.sup.Status(rs.Name)
			switch {
			case ok:
				rs.PID, rs.State, rs.Restarts, rs.LastExit, rs.ListenPorts = s.PID, string(s.State), s.Restarts, s.LastExit, s.ListenPorts
				if f := failure(s); f != "" && st.Apps[i].Problem == "" && active[rs.Revision] {
					st.Apps[i].Problem = strings.TrimSuffix(fmt.Sprintf("replica %s %s; %s", rs.Name, f, restarts(s)), "; ")
				}
			case failures[rs.Name] != "":
				// Its command could not be started at all (see startReplica).
				rs.State = string(supervisor.StateFailed)
				if st.Apps[i].Problem == "" {
					st.Apps[i].Problem = failures[rs.Name]
				}
			}
		}
	}
	if comps != nil {
		st.Components = componentStatus(comps)
	}
	for i := range st.Apps {
		st.Apps[i].Subscriptions = subscriptionStatus(sidecars[st.Apps[i].Name])
	}
	sort.Slice(st.Apps, func(i, j int) bool { return st.Apps[i].Name < st.Apps[j].Name })
	return st
}

// subscriptionStatus lists the topics an app's sidecars subscribed, each
// once (every replica's sidecar subscribes the same ones), and the
// streaming subscriptions open on any of them, each kind once per topic.
func subscriptionStatus(scs []*sidecar.Sidecar) []SubscriptionStatus {
	type key struct{ pubsub, topic, typ string }
	seen := map[key]bool{}
	var out []SubscriptionStatus
	for _, sc := range scs {
		for _, s := range sc.Metadata().Subscriptions {
			k := key{s.PubsubName, s.Topic, s.Type}
			if s.Type != SubscriptionStreaming {
				k.typ = "" // an app's own subscription is one per topic, whatever its kind
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			ss := SubscriptionStatus{Pubsub: s.PubsubName, Topic: s.Topic, DeadLetterTopic: s.DeadLetterTopic, Type: s.Type}
			for _, r := range s.Rules {
				ss.Routes, ss.Rules = append(ss.Routes, r.Path), append(ss.Rules, r.Match)
			}
			if !slices.ContainsFunc(ss.Rules, func(m string) bool { return m != "" }) {
				ss.Rules = nil
			}
			out = append(out, ss)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Pubsub+"/"+out[i].Topic < out[j].Pubsub+"/"+out[j].Topic
	})
	return out
}

// ReplicaEnv is what `cove exec` needs to run a command as the named
// replica; false when no replica has that name.
func (e *Env) ReplicaEnv(name string) (ReplicaEnv, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rep := e.replicas[name]
	if rep == nil {
		return ReplicaEnv{}, false
	}
	re := ReplicaEnv{Replica: rep.name, Dir: rep.rev.entry.Dir, Env: rep.env, Hosts: e.hostsFile, Container: rep.mainContainer}
	for _, c := range rep.processes {
		re.Processes = append(re.Processes, ProcessEnv{Name: c.Name, Dir: c.Dir, Env: c.Env})
	}
	if len(re.Processes) > 0 {
		re.Dir, re.Env = re.Processes[0].Dir, re.Processes[0].Env
	}
	if rep.network != nil {
		if st, ok := e.sup.Status(name); ok && st.PID != 0 {
			re.Network = fmt.Sprintf("/proc/%d/ns/net", st.PID)
		}
	}
	if rep.rev.entry.Containers() && e.engine != nil {
		re = ReplicaEnv{Replica: rep.name, Engine: e.engine.Bin}
		for _, c := range rep.rev.entry.App.Properties.Template.Containers {
			re.Containers = append(re.Containers, c.Name)
			re.ContainerNames = append(re.ContainerNames, engine.ContainerName(e.podName(rep.name), c.Name))
		}
	}
	return re, true
}

// restarts says how often a replica restarted and what it does now.
func restarts(s supervisor.Status) string {
	var n string
	switch s.Restarts {
	case 0:
	case 1:
		n = "1 restart, "
	default:
		n = fmt.Sprintf("%d restarts, ", s.Restarts)
	}
	if s.State == supervisor.StateRestarting {
		return n + "restarting with a backoff"
	}
	return strings.TrimSuffix(n, ", ")
}
