package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/daprapp"
	"github.com/cove-env/cove/internal/engine"
	"github.com/cove-env/cove/internal/netns"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// appRuntime is one app: what its configuration decides (ingress, Dapr,
// its state block, how revisions share traffic) and its revisions.
type appRuntime struct {
	name string
	// entry is the app as its Dapr settings and state block were built
	// from; a reload compares the file with it to find the changes only a
	// restart applies.
	entry *spec.AppEntry
	// current is the app's entry as last applied, at start or by a
	// reload, under Env.mu: what the ARM-shaped API shows.
	current   *spec.AppEntry
	ingress   *routing.Ingress
	daprAppID string
	// ports the container declares (ingress targetPort, Dapr appPort);
	// in process mode both map to the replica's PORT.
	containerPorts []int
	// dapr is the app's building blocks and what its sidecars are
	// configured from; nil without Dapr.
	dapr *daprapp.Runtime
	// mode is activeRevisionsMode, traffic the ingress traffic and
	// targetLabel the label new revisions take in Labels mode, as last
	// applied.
	mode        string
	traffic     []spec.TrafficWeight
	targetLabel string

	// Under Env.mu: the revisions, oldest first, and the revision names
	// traffic entries named that cove does not run, warned about once.
	revisions []*revisionRuntime
	warned    map[string]bool
	// inactive are, under Env.mu, the revisions stopped after serving in
	// this run, oldest first (see keepInactiveLocked).
	inactive []*inactiveRevision
	// In Labels mode (see placeLabelsLocked), under Env.mu: the revision
	// each label is on, and the revision each traffic entry last placed
	// its label on by name.
	labelAt, pinned map[string]string
}

// revisionState is where a revision is in its life.
type revisionState string

const (
	// revStarting: a reload started its replicas; it takes no traffic
	// until every one is ready.
	revStarting revisionState = "starting"
	// revActive: in the routing table with its share of the traffic.
	revActive revisionState = "active"
	// revStopping: out of the routing table; its replicas finish their
	// requests and stop.
	revStopping revisionState = "stopping"
)

// revisionRuntime is one revision: the app's template and cove's local
// settings as they were when it was created, and its replicas.
type revisionRuntime struct {
	app  *appRuntime
	name string
	// entry is the app's entry the revision was built from; scope is its
	// revision-scope part (see revisionScope).
	entry *spec.AppEntry
	scope []byte
	// created is when the revision was first created (revisionCreated).
	created time.Time
	env     []string // container env, resolved; no per-replica values
	probes  []supervisor.Probe
	grace   time.Duration
	wanted  int

	// Under Env.mu.
	state    revisionState
	weight   int
	labels   []string
	replicas []*replicaRuntime
}

// replicaRuntime is one replica: a process and, with Dapr, its sidecar.
type replicaRuntime struct {
	app          *appRuntime
	rev          *revisionRuntime
	name         string
	port         int
	daprHTTPPort int
	daprGRPCPort int
	// extraPorts maps the target ports of additionalPortMappings to the
	// replica's own port for each (its PORT_<target> variable).
	extraPorts map[int]int
	env        []string
	// Under Env.mu, set once the replica's spec is built: its template's
	// first container, the process-mode containers `cove exec --container`
	// runs beside it (the first included; empty when it runs alone), and
	// the containers whose names start its output lines (empty when there
	// is one).
	mainContainer  string
	processes      []supervisor.Container
	lineContainers []string
	sidecar        *sidecar.Sidecar
	sidecarOnce    sync.Once
	// network is the replica's network namespace, nil when it runs on
	// the machine's network.
	network *replicaNetwork
	ready   bool
	// failure says how the replica failed while not ready (see failure).
	failure string
}

// stopSubscriptions makes the replica's sidecar stop taking pub/sub
// events and hosting actors (deactivating them), before its app is
// stopped.
func (r *replicaRuntime) stopSubscriptions() {
	if r.sidecar != nil {
		r.sidecar.StopSubscriptions()
		ctx, cancel := context.WithTimeout(context.Background(), actorDrainTimeout)
		defer cancel()
		r.sidecar.StopActors(ctx)
	}
}

// actorDrainTimeout bounds the wait for a stopping replica's actor calls
// in flight, daprd's default drainOngoingCallTimeout.
const actorDrainTimeout = actors.DefaultDrainTimeout

// closeSidecar stops the replica's sidecar and closes its network
// namespace, once, whoever asks first: a retiring revision or the
// environment's stop.
func (r *replicaRuntime) closeSidecar(ctx context.Context) error {
	var err error
	r.sidecarOnce.Do(func() {
		if r.sidecar != nil {
			err = r.sidecar.Close(ctx)
		}
		if r.network != nil {
			r.network.close()
		}
	})
	return err
}

// startApps builds every app and its first revision, then starts the
// replicas.
func (e *Env) startApps(ctx context.Context) error {
	for _, entry := range e.spec.Apps {
		a, err := e.newApp(entry, e.comps)
		if err != nil {
			return err
		}
		rev, err := e.newRevision(a, entry)
		if err != nil {
			return err
		}
		rev.state = revActive
		e.mu.Lock()
		a.revisions = append(a.revisions, rev)
		e.assignTrafficLocked(a, nil)
		e.apps = append(e.apps, a)
		e.mu.Unlock()
	}
	// Invocation rules need every app's resolved env and configuration.
	e.invoker.SetPolicies(newPolicies(e.spec, e.apps, e.log))
	e.startEngine(ctx)
	for _, a := range e.apps {
		if err := e.build(ctx, a.name, a.revisions[0].entry); err != nil {
			return err
		}
	}
	for _, a := range e.apps {
		rev := a.revisions[0]
		for i := range rev.wanted {
			if err := e.startReplica(ctx, rev, i); err != nil {
				return err
			}
		}
	}
	// Replicas that got ready while others were starting made no report.
	e.mu.Lock()
	e.launched = true
	ready := e.settleLocked()
	e.mu.Unlock()
	if ready {
		e.reportReady()
	}
	return nil
}

// newApp translates the configuration of an app's ACA YAML into its
// runtime form; its revisions come from newRevision.
func (e *Env) newApp(entry *spec.AppEntry, comps *resources.Set) (*appRuntime, error) {
	app := entry.App
	cfg := app.Properties.Configuration
	a := &appRuntime{name: app.Name, entry: entry, current: entry, mode: cfg.ActiveRevisionsMode, targetLabel: cfg.TargetLabel, warned: map[string]bool{}}
	if in := cfg.Ingress; in != nil {
		ri, err := ingressRoute(in)
		if err != nil {
			return nil, fmt.Errorf("app %s: ingress: %w", app.Name, err)
		}
		a.ingress, a.traffic = ri, in.Traffic
		if in.TargetPort != 0 {
			a.containerPorts = append(a.containerPorts, in.TargetPort)
		}
	}
	if app.DaprEnabled() {
		a.daprAppID = app.DaprAppID()
		if p := cfg.Dapr.AppPort; p != 0 {
			a.containerPorts = append(a.containerPorts, p)
		}
		da, err := e.daprApp(entry, comps)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", app.Name, err)
		}
		if a.dapr, err = daprapp.New(da); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// newRevision translates the revision-scope part of an app's entry (its
// template and cove's local settings) into a revision of a, named
// <app>--<suffix> and unlike any revision a still has. Call it with Env.mu
// held or before the app is shared.
func (e *Env) newRevision(a *appRuntime, entry *spec.AppEntry) (*revisionRuntime, error) {
	app := entry.App
	tmpl := app.Properties.Template
	rev := &revisionRuntime{app: a, entry: entry, scope: revisionScope(entry), grace: 30 * time.Second}
	base := app.Name + "--" + revisionSuffix(entry)
	rev.name = base
	for n := 2; e.revisionTakenLocked(a, rev.name); n++ {
		// The suffix is taken: the template kept its revisionSuffix, or
		// only a setting outside the hash changed.
		rev.name = fmt.Sprintf("%s-%d", base, n)
	}
	rev.created = e.revisionCreated(rev.name)
	if g := tmpl.TerminationGracePeriodSeconds; g != nil {
		rev.grace = time.Duration(*g) * time.Second
	}
	rev.wanted = max(app.MinReplicas(), 1)

	main := tmpl.Containers[0]
	env, err := containerEnv(app, main.Env, entry.Secrets)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app.Name, err)
	}
	rev.env = append(env, envList(entry.Env)...)
	rev.probes = probesFor(main.Probes, a.ingress)
	return rev, nil
}

func (a *appRuntime) hasRevision(name string) bool {
	for _, r := range a.revisions {
		if r.name == name {
			return true
		}
	}
	return false
}

// revisionTakenLocked reports whether a revision of app a is named name,
// or a replica of such a revision still runs: one of an app a reload
// replaced or removed may still be stopping.
func (e *Env) revisionTakenLocked(a *appRuntime, name string) bool {
	if a.hasRevision(name) {
		return true
	}
	for _, r := range e.replicas {
		if r.rev.name == name {
			return true
		}
	}
	return false
}

// revisionScope is what a new revision is made of, as ACA draws the line
// plus cove's own settings: the template, the secrets it reads, and the
// app's local command, build, directory, env and secret values. A reload
// that changes any of it creates a new revision.
func revisionScope(entry *spec.AppEntry) []byte {
	var dirs map[string]string
	for name, cc := range entry.ContainerCommands {
		if dirs == nil {
			dirs = map[string]string{}
		}
		dirs[name] = cc.Dir
	}
	b, _ := json.Marshal(struct {
		Portable      json.RawMessage   `json:"portable"`
		Dir           string            `json:"dir"`
		ContainerDirs map[string]string `json:"containerDirs,omitempty"`
		LocalSecrets  map[string]string `json:"localSecrets,omitempty"`
	}{portableScope(entry), entry.Dir, dirs, entry.Secrets})
	return b
}

// portableScope is the part of revisionScope that does not depend on
// where the environment lives, which revision names hash.
func portableScope(entry *spec.AppEntry) json.RawMessage {
	// Directories are where the environment lives: only revisionScope has them.
	var commands map[string]spec.ContainerCommand
	for name, cc := range entry.ContainerCommands {
		if commands == nil {
			commands = map[string]spec.ContainerCommand{}
		}
		c := *cc
		c.Dir = ""
		commands[name] = c
	}
	b, _ := json.Marshal(struct {
		Template *spec.Template    `json:"template"`
		Secrets  []spec.Secret     `json:"secrets,omitempty"`
		Build    string            `json:"build,omitempty"`
		Command  []string          `json:"command"`
		Shell    bool              `json:"shell,omitempty"`
		Env      map[string]string `json:"env,omitempty"`
		// Only container mode is named, so process apps keep their names.
		Containers        bool                             `json:"containers,omitempty"`
		ContainerCommands map[string]spec.ContainerCommand `json:"containerCommands,omitempty"`
		// Likewise only a network namespace.
		Namespace bool  `json:"namespace,omitempty"`
		HostPorts []int `json:"hostPorts,omitempty"`
	}{entry.App.Properties.Template, entry.App.Properties.Configuration.Secrets, entry.Build, entry.Command, entry.Shell, entry.Env, entry.Containers(), commands, entry.Namespaced(), entry.HostPorts})
	return b
}

// revisionSuffix is the template's revisionSuffix, or a short hash of the
// revision's portable scope, so an unchanged app keeps its revision name
// across runs.
func revisionSuffix(entry *spec.AppEntry) string {
	if s := entry.App.Properties.Template.RevisionSuffix; s != "" {
		return s
	}
	sum := sha256.Sum256(portableScope(entry))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:7])
}

// containerEnv resolves the container's env list: plain values, and
// secretRefs from the app's secrets or the local overrides in cove.yaml.
func containerEnv(app *spec.ContainerApp, vars []spec.EnvVar, local map[string]string) ([]string, error) {
	var env []string
	for _, ev := range vars {
		if ev.SecretRef == "" {
			env = append(env, ev.Name+"="+ev.Value)
			continue
		}
		v, ok := app.SecretValue(ev.SecretRef, local)
		if !ok {
			return nil, fmt.Errorf("env %s: secret %q has no value that can be read locally; give it one under the app's `secrets:` in cove.yaml", ev.Name, ev.SecretRef)
		}
		env = append(env, ev.Name+"="+v)
	}
	return env, nil
}

// probesFor translates ACA probes. With ingress on and no probes, ACA adds
// TCP startup, readiness and liveness probes on the target port; they are
// given short periods here so a local start is quick.
func probesFor(probes []*spec.Probe, ingress *routing.Ingress) []supervisor.Probe {
	var out []supervisor.Probe
	for _, p := range probes {
		sp := supervisor.Probe{
			Type:             supervisor.ProbeType(p.Type),
			InitialDelay:     seconds(p.InitialDelaySeconds, 0),
			Period:           seconds(p.PeriodSeconds, 10),
			Timeout:          seconds(p.TimeoutSeconds, 1),
			SuccessThreshold: intOr(p.SuccessThreshold, 1),
			FailureThreshold: intOr(p.FailureThreshold, 3),
		}
		switch {
		case p.HTTPGet != nil:
			h := &supervisor.HTTPGetAction{Path: p.HTTPGet.Path, Port: p.HTTPGet.Port, Scheme: p.HTTPGet.Scheme, Headers: map[string][]string{}}
			for _, hh := range p.HTTPGet.HTTPHeaders {
				h.Headers[hh.Name] = append(h.Headers[hh.Name], hh.Value)
			}
			sp.HTTPGet = h
		case p.TCPSocket != nil:
			sp.TCPSocket = &supervisor.TCPSocketAction{Port: p.TCPSocket.Port}
		}
		out = append(out, sp)
	}
	if len(out) > 0 || ingress == nil || ingress.TargetPort == 0 {
		return out
	}
	tcp := &supervisor.TCPSocketAction{Port: ingress.TargetPort}
	return []supervisor.Probe{
		{Type: supervisor.Startup, TCPSocket: tcp, Period: 200 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1200},
		{Type: supervisor.Readiness, TCPSocket: tcp, Period: 2 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3},
		{Type: supervisor.Liveness, TCPSocket: tcp, Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3},
	}
}

func seconds(v *int, def int) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}

func intOr(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}

// commandFailed reports whether a replica could not be started because its
// command is missing or may not be executed.
func commandFailed(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

// ReportedError is an error Run has sent as an event already (a failed
// build, with its output), so that its caller need not print it again.
type ReportedError struct{ error }

func (e ReportedError) Unwrap() error { return e.error }

// build runs an app's build command (from the entry of the revision
// about to start), before that revision's replicas start.
func (e *Env) build(ctx context.Context, app string, entry *spec.AppEntry) error {
	if entry.Build == "" {
		return nil
	}
	e.opts.Events(Event{Kind: EventBuild, App: app, Message: entry.Build})
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", entry.Build)
	cmd.Dir = entry.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("build of %s failed (%s, in %s): %w\n%s", app, entry.Build, entry.Dir, err, strings.TrimSpace(out.String()))
		e.opts.Events(Event{Kind: EventBuild, App: app, Err: err})
		return ReportedError{err}
	}
	e.opts.Events(Event{Kind: EventBuild, App: app, Message: "done"})
	return nil
}

// startReplica allocates ports, starts the sidecar, then the process.
func (e *Env) startReplica(ctx context.Context, rev *revisionRuntime, index int) error {
	a := rev.app
	r := &replicaRuntime{app: a, rev: rev, name: fmt.Sprintf("%s-%d", rev.name, index)}
	var err error
	if r.port, err = e.ports.free(); err != nil {
		return err
	}
	appAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	if r.extraPorts, err = e.ports.extraPorts(a.ingress); err != nil {
		return err
	}

	if a.daprAppID != "" {
		if err := e.newSidecar(r, appAddr); err != nil {
			return err
		}
	}

	r.env = e.replicaEnv(rev, r, rev.env)
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		_ = r.closeSidecar(ctx)
		return errStopping
	}
	rev.replicas = append(rev.replicas, r)
	e.replicas[r.name] = r
	e.mu.Unlock()

	spec := supervisor.ReplicaSpec{
		Name: r.name, App: a.name, Revision: rev.name,
		Command: rev.entry.Command, Shell: rev.entry.Shell,
		Dir: rev.entry.Dir, Env: r.env, Hosts: e.hostsFile,
		Probes:           remapExtraPorts(remapProbes(rev.probes, a.containerPorts, r.port), r.extraPorts),
		TerminationGrace: rev.grace,
	}
	if len(a.containerPorts) > 0 {
		// The app declares a port (targetPort, dapr.appPort): its PORT.
		spec.Port = r.port
	}
	switch {
	case rev.entry.Containers():
		spec, err = e.podReplicaSpec(rev, r, spec)
	case rev.entry.Namespaced():
		if err = e.openNetwork(rev, r); err != nil {
			break
		}
		// The app listens on its own port inside its namespace, where
		// probes and the port watch look.
		spec.Network, spec.Port = r.network.ns, namespacePort(a)
		spec.Probes = remapProbes(rev.probes, nil, namespacePort(a))
		fallthrough
	default:
		err = e.processContainers(rev, r, &spec)
	}
	if err == nil {
		e.mu.Lock()
		r.mainContainer, r.processes, r.lineContainers = replicaContainers(rev.entry, spec)
		e.mu.Unlock()
		err = e.sup.Start(ctx, spec)
	}
	if err != nil {
		if rev.state != revActive || !(commandFailed(err) || errors.Is(err, engine.ErrNoEngine) || errors.Is(err, supervisor.ErrInitFailed) || errors.Is(err, netns.ErrRefused)) {
			return fmt.Errorf("start replica %s of %s: %w", r.name, a.name, err)
		}
		// At start, an app whose command cannot run must not stop the
		// others: the replica is reported as failed (a reload with a
		// command that runs replaces its revision).
		_ = r.closeSidecar(ctx)
		e.mu.Lock()
		r.failure = err.Error() // names the replica, the command and why
		e.mu.Unlock()
		return nil
	}
	// The sidecar serves once the replica's log exists, so that its own
	// first lines land there; its listeners, bound already, hold an app's
	// early calls until then.
	if r.sidecar != nil {
		if err := r.sidecar.Start(); err != nil {
			return fmt.Errorf("start sidecar for %s: %w", r.name, err)
		}
	}
	msg := fmt.Sprintf("PORT=%d", r.port)
	if r.daprHTTPPort != 0 {
		msg += fmt.Sprintf(", DAPR_HTTP_PORT=%d", r.daprHTTPPort)
	}
	if rev.entry.Containers() || r.network != nil {
		msg = "pod"
		if r.network != nil {
			msg = "network namespace"
		}
		if len(a.containerPorts) > 0 {
			msg += fmt.Sprintf(", port %d on 127.0.0.1:%d", a.containerPorts[0], r.port)
		}
		if r.daprHTTPPort != 0 {
			msg += fmt.Sprintf(", Dapr at localhost:%d (127.0.0.1:%d)", podDaprHTTPPort, r.daprHTTPPort)
		}
	}
	e.opts.Events(Event{Kind: EventReplicaStart, App: a.name, Replica: r.name, Message: msg})
	return nil
}

// newSidecar opens r's Dapr API listeners and builds its sidecar from its
// app's (daprapp); it serves once the replica has started.
func (e *Env) newSidecar(r *replicaRuntime, appAddr string) error {
	a := r.app
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sidecar listener for %s: %w", r.name, err)
	}
	r.daprHTTPPort = ln.Addr().(*net.TCPAddr).Port
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return fmt.Errorf("sidecar gRPC listener for %s: %w", r.name, err)
	}
	r.daprGRPCPort = gln.Addr().(*net.TCPAddr).Port
	cfg := a.dapr.SidecarConfig(daprapp.Sidecar{
		AppAddr:      appAddr,
		HTTPListener: ln,
		GRPCListener: gln,
		Invoker:      e.invoker,
		// The sidecar logs into the replica's own log at the app's
		// dapr.logLevel, as ACA shows daprd's lines beside the app's;
		// API calls at info whatever dapr.logLevel says, as daprd
		// logs them.
		Logger:    e.replicaLog(r.name, sidecarStream, daprLogLevel(a.entry.App.Properties.Configuration.Dapr.LogLevel)),
		APILogger: e.replicaLog(r.name, sidecarStream, slog.LevelInfo),
		// DAPR_API_TOKEN from the app's env guards its sidecar's API.
		APIToken: envValue(r.rev.env, "DAPR_API_TOKEN"),
	})
	if r.rev.entry.Namespaced() {
		// The machine's end of the app's port is a relay, which accepts
		// before the app listens; the app is dialled inside instead.
		// r.network is set before the sidecar starts.
		cfg.AppDial = func(ctx context.Context) (net.Conn, error) {
			return r.network.ns.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(namespacePort(a))))
		}
	}
	// POST /v1.0/shutdown stops this sidecar, as it stops daprd; the
	// app keeps running, as an app whose daprd exited would.
	cfg.OnShutdown = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.closeSidecar(ctx); err != nil {
			e.log.Warn("sidecar shutdown", "replica", r.name, "err", err)
		}
	}
	sc, err := sidecar.New(cfg)
	if err != nil {
		ln.Close()
		gln.Close()
		return fmt.Errorf("sidecar for %s: %w", r.name, err)
	}
	r.sidecar = sc
	return nil
}

func (e *Env) appProtocol(a *appRuntime) string {
	if d := a.entry.App.Properties.Configuration.Dapr; d != nil && d.AppProtocol != "" {
		return d.AppProtocol
	}
	return "http"
}

// daprApp is what an app's sidecars share, from its ACA dapr settings and
// its Dapr Configuration, over the components of comps.
func (e *Env) daprApp(entry *spec.AppEntry, comps *resources.Set) (daprapp.App, error) {
	d := entry.App.Properties.Configuration.Dapr
	da := daprapp.App{
		AppID:         entry.App.DaprAppID(),
		Protocol:      d.AppProtocol,
		Config:        entry.DaprConfig,
		Components:    comps,
		Subscriptions: e.spec.Subscriptions,
		// Component policies are the app's own, as each daprd's are: its
		// breakers count only its calls.
		Resiliency: resources.NewResiliency(e.spec.Resiliency, e.log),
		// ACA's dapr settings are in MB and KB; zero is Dapr's default.
		MaxRequestBodySize: int64(d.HTTPMaxRequestSize) << 20,
		MaxHeaderBytes:     d.HTTPReadBufferSize << 10,
		RuntimeVersion:     Version,
		Placement:          e.placement,
		Scheduler:          e.scheduler,
		Logger:             e.log,
	}
	// A false dapr.enableApiLogging cannot be told from an absent one, so
	// only true overrides the Configuration's default.
	if d.EnableAPILogging {
		da.APILogging = &d.EnableAPILogging
	}
	if dc := entry.DaprConfig; e.metrics != nil && dc.MetricsEnabled() {
		m, err := e.metrics.Sidecar(da.AppID, resources.MetricOptions(dc))
		if err != nil {
			return daprapp.App{}, fmt.Errorf("metrics of the Dapr Configuration %s: %w", dc.File, err)
		}
		da.Metrics = m
	}
	return da, nil
}

// remapProbes points probes at the replica's PORT when they name one of
// the container's declared ports (or none).
func remapProbes(probes []supervisor.Probe, containerPorts []int, port int) []supervisor.Probe {
	out := make([]supervisor.Probe, len(probes))
	mapPort := func(p int) int {
		if p == 0 {
			return port
		}
		for _, cp := range containerPorts {
			if p == cp {
				return port
			}
		}
		return p
	}
	for i, p := range probes {
		out[i] = p
		if p.TCPSocket != nil {
			t := *p.TCPSocket
			t.Port = mapPort(t.Port)
			out[i].TCPSocket = &t
		}
		if p.HTTPGet != nil {
			h := *p.HTTPGet
			h.Port = mapPort(h.Port)
			out[i].HTTPGet = &h
		}
	}
	return out
}

// replicaEnv is the replica's environment: cove's own environment (so PATH
// and toolchains work), then the container's variables, then the contract
// every ACA replica gets (DESIGN: PORT, CONTAINER_APP_*, Dapr ports, proxy).
func (e *Env) replicaEnv(rev *revisionRuntime, r *replicaRuntime, own []string) []string {
	a := rev.app
	domain := e.spec.Domain
	proxy := "http://" + e.internalLn.Addr().String()
	env := append(os.Environ(), own...)
	// In a network namespace of its own the replica has the app's own
	// ports and its sidecar at ACA's; on the machine's, ports of its own.
	port, extra := r.port, r.extraPorts
	daprHTTP, daprGRPC := r.daprHTTPPort, r.daprGRPCPort
	noProxy := "127.0.0.1,::1"
	if rev.entry.Namespaced() {
		port, extra = namespacePort(a), map[int]int{}
		for target := range r.extraPorts {
			extra[target] = target
		}
		daprHTTP, daprGRPC = spec.NamespaceDaprHTTPPort, spec.NamespaceDaprGRPCPort
		// localhost is the namespace's own, which the proxy, on the
		// machine's, cannot reach; app names reach the edge directly.
		noProxy = "localhost,127.0.0.1,::1"
	}
	if port != 0 {
		env = append(env, "PORT="+strconv.Itoa(port), "CONTAINER_APP_PORT="+strconv.Itoa(port))
	}
	env = append(env,
		"CONTAINER_APP_NAME="+a.name,
		"CONTAINER_APP_REVISION="+rev.name,
		"CONTAINER_APP_REPLICA_NAME="+r.name,
		"CONTAINER_APP_HOSTNAME="+rev.name+"."+domain,
		"CONTAINER_APP_ENV_DNS_SUFFIX="+domain,
		// Lower- and upper-case: curl reads only http_proxy, Go both.
		// Loopback is excluded so calls to the sidecar go direct; names
		// under the domain ("<app>.localhost") must go through the proxy.
		"HTTP_PROXY="+proxy, "http_proxy="+proxy,
		"NO_PROXY="+noProxy, "no_proxy="+noProxy,
	)
	if e.caBundle != "" {
		// https://<app> goes through the proxy too (as a CONNECT the edge
		// terminates with a certificate from the environment CA), and
		// verifies against the bundle: the system roots plus that CA.
		// OpenSSL, Go and most runtimes read SSL_CERT_FILE; curl, Python
		// requests and Node have variables of their own.
		env = append(env,
			"HTTPS_PROXY="+proxy, "https_proxy="+proxy,
			"SSL_CERT_FILE="+e.caBundle,
			"CURL_CA_BUNDLE="+e.caBundle,
			"REQUESTS_CA_BUNDLE="+e.caBundle,
			"NODE_EXTRA_CA_CERTS="+e.ca.CertPath(),
		)
	}
	env = append(env, extraPortEnv(extra)...)
	if r.daprHTTPPort != 0 {
		env = append(env,
			"APP_ID="+a.daprAppID,
			"DAPR_HTTP_PORT="+strconv.Itoa(daprHTTP),
			"DAPR_GRPC_PORT="+strconv.Itoa(daprGRPC),
			"DAPR_HTTP_ENDPOINT=http://127.0.0.1:"+strconv.Itoa(daprHTTP),
			"DAPR_GRPC_ENDPOINT=127.0.0.1:"+strconv.Itoa(daprGRPC),
		)
	}
	return dedupeEnv(env)
}

// dedupeEnv keeps the last value of each variable, so later layers win
// whatever the consumer's lookup order.
func dedupeEnv(env []string) []string {
	seen := make(map[string]int, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}
