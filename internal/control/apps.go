package control

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	blockstate "github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// appRuntime is one app's active revision and its replicas.
type appRuntime struct {
	name      string
	revision  string
	entry     *spec.AppEntry
	ingress   *routing.Ingress
	daprAppID string
	// ports the container declares (ingress targetPort, Dapr appPort);
	// in process mode both map to the replica's PORT.
	containerPorts []int
	replicas       []*replicaRuntime
	wanted         int
	grace          time.Duration
	probes         []supervisor.Probe
	env            []string // container env, resolved; no per-replica values
	state          *blockstate.Service
}

// replicaRuntime is one replica: a process and, with Dapr, its sidecar.
type replicaRuntime struct {
	app          *appRuntime
	name         string
	port         int
	daprHTTPPort int
	daprGRPCPort int
	// extraPorts maps the target ports of additionalPortMappings to the
	// replica's own port for each (its PORT_<target> variable).
	extraPorts map[int]int
	env        []string
	sidecar    *sidecar.Sidecar
	ready      bool
}

// startApps builds every app, then starts its replicas.
func (e *Env) startApps(ctx context.Context) error {
	for _, entry := range e.spec.Apps {
		a, err := e.newApp(entry)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.apps = append(e.apps, a)
		e.mu.Unlock()
	}
	// Invocation rules need every app's resolved env and configuration.
	e.invoker.SetPolicies(newPolicies(e.spec, e.apps, e.log))
	for _, a := range e.apps {
		if err := e.build(ctx, a); err != nil {
			return err
		}
	}
	for _, a := range e.apps {
		for i := range a.wanted {
			if err := e.startReplica(ctx, a, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// newApp translates an app's ACA YAML into its runtime form.
func (e *Env) newApp(entry *spec.AppEntry) (*appRuntime, error) {
	app := entry.App
	cfg, tmpl := app.Properties.Configuration, app.Properties.Template
	a := &appRuntime{name: app.Name, entry: entry, grace: 30 * time.Second}
	a.revision = app.Name + "--" + revisionSuffix(app)
	if in := cfg.Ingress; in != nil {
		for _, tw := range in.Traffic {
			if tw.Weight > 0 && !tw.LatestRevision && tw.RevisionName != a.revision {
				// Say so rather than split silently wrong: older revisions
				// are not kept running yet.
				e.log.Warn("traffic to other revisions is not split yet: the active revision takes all of it",
					"app", app.Name, "revision", tw.RevisionName, "weight", tw.Weight, "active", a.revision)
			}
		}
	}
	if g := tmpl.TerminationGracePeriodSeconds; g != nil {
		a.grace = time.Duration(*g) * time.Second
	}
	a.wanted = max(app.MinReplicas(), 1)

	if in := cfg.Ingress; in != nil {
		ri, err := ingressRoute(in)
		if err != nil {
			return nil, fmt.Errorf("app %s: ingress: %w", app.Name, err)
		}
		a.ingress = ri
		if in.TargetPort != 0 {
			a.containerPorts = append(a.containerPorts, in.TargetPort)
		}
	}
	if app.DaprEnabled() {
		a.daprAppID = app.DaprAppID()
		if p := cfg.Dapr.AppPort; p != 0 {
			a.containerPorts = append(a.containerPorts, p)
		}
	}

	main := tmpl.Containers[0]
	env, err := containerEnv(app, main, entry.Secrets)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app.Name, err)
	}
	for k, v := range entry.Env {
		env = append(env, k+"="+v)
	}
	a.env = env
	a.probes = probesFor(main.Probes, a.ingress)

	if a.daprAppID != "" {
		// Component policies are the app's own, as each daprd's are: its
		// breakers count only its calls.
		a.state = blockstate.NewWithOptions(a.daprAppID, blockstate.Options{
			Outbound: resources.NewResiliency(e.spec.Resiliency, e.log).StateStoreOutbound(a.daprAppID),
		})
		for _, lc := range e.comps.stateStores(a.daprAppID) {
			if err := a.state.Add(lc.md, lc.store); err != nil {
				return nil, fmt.Errorf("app %s: state store %s: %w", app.Name, lc.entry.Name, err)
			}
		}
	}
	return a, nil
}

// revisionSuffix is the template's revisionSuffix, or a short hash of the
// template and configuration so an unchanged app keeps its revision name.
func revisionSuffix(app *spec.ContainerApp) string {
	if s := app.Properties.Template.RevisionSuffix; s != "" {
		return s
	}
	b, _ := json.Marshal(app.Properties)
	sum := sha256.Sum256(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:7])
}

// containerEnv resolves the container's env list: plain values, and
// secretRefs from the app's secrets or the local overrides in cove.yaml.
func containerEnv(app *spec.ContainerApp, c *spec.Container, local map[string]string) ([]string, error) {
	var env []string
	for _, ev := range c.Env {
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

// build runs the app's build command once, before its replicas start.
func (e *Env) build(ctx context.Context, a *appRuntime) error {
	if a.entry.Build == "" {
		return nil
	}
	e.opts.Events(Event{Kind: EventBuild, App: a.name, Message: a.entry.Build})
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.entry.Build)
	cmd.Dir = a.entry.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("build of %s failed (%s, in %s): %w\n%s", a.name, a.entry.Build, a.entry.Dir, err, strings.TrimSpace(out.String()))
		e.opts.Events(Event{Kind: EventBuild, App: a.name, Err: err})
		return err
	}
	e.opts.Events(Event{Kind: EventBuild, App: a.name, Message: "done"})
	return nil
}

// startReplica allocates ports, starts the sidecar, then the process.
func (e *Env) startReplica(ctx context.Context, a *appRuntime, index int) error {
	r := &replicaRuntime{app: a, name: fmt.Sprintf("%s-%d", a.revision, index)}
	var err error
	if r.port, err = freePort(); err != nil {
		return err
	}
	appAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	if r.extraPorts, err = extraPorts(a.ingress); err != nil {
		return err
	}

	if a.daprAppID != "" {
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
		d := a.entry.App.Properties.Configuration.Dapr
		cfg := sidecar.Config{
			AppID:        a.daprAppID,
			AppAddr:      appAddr,
			AppProtocol:  e.appProtocol(a),
			HTTPListener: ln,
			GRPCListener: gln,
			Invoker:      e.invoker,
			Logger:       e.log.With("app", a.name, "replica", r.name),
			// ACA's dapr settings are in MB and KB; Dapr's defaults
			// (4 MB bodies, 4 KB headers) apply when they are unset.
			MaxRequestBodySize: int64(cmp.Or(d.HTTPMaxRequestSize, 4)) << 20,
			MaxHeaderBytes:     cmp.Or(d.HTTPReadBufferSize, 4) << 10,
			RuntimeVersion:     Version,
			// DAPR_API_TOKEN from the app's env guards its sidecar's API.
			APIToken:      envValue(a.env, "DAPR_API_TOKEN"),
			TraceSampling: traceSampling(a.entry.DaprConfig),
		}
		if a.state != nil {
			cfg.State = a.state
		}
		if sec := e.comps.secretsBlock(a.daprAppID, a.entry.DaprConfig, e.log); sec != nil {
			cfg.Secrets = sec
		}
		// POST /v1.0/shutdown stops this sidecar, as it stops daprd; the
		// app keeps running, as an app whose daprd exited would.
		var sc *sidecar.Sidecar
		cfg.OnShutdown = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sc.Close(ctx); err != nil {
				e.log.Warn("sidecar shutdown", "replica", r.name, "err", err)
			}
		}
		sc, err = sidecar.New(cfg)
		if err != nil {
			ln.Close()
			gln.Close()
			return fmt.Errorf("sidecar for %s: %w", r.name, err)
		}
		if err := sc.Start(); err != nil {
			return fmt.Errorf("start sidecar for %s: %w", r.name, err)
		}
		r.sidecar = sc
	}

	r.env = e.replicaEnv(a, r)
	e.mu.Lock()
	a.replicas = append(a.replicas, r)
	e.replicas[r.name] = r
	e.mu.Unlock()

	spec := supervisor.ReplicaSpec{
		Name: r.name, App: a.name, Revision: a.revision,
		Command: a.entry.Command, Shell: a.entry.Shell,
		Dir: a.entry.Dir, Env: r.env,
		Probes:           remapExtraPorts(remapProbes(a.probes, a.containerPorts, r.port), r.extraPorts),
		TerminationGrace: a.grace,
	}
	if err := e.sup.Start(ctx, spec); err != nil {
		return fmt.Errorf("start replica %s of %s: %w", r.name, a.name, err)
	}
	msg := fmt.Sprintf("PORT=%d", r.port)
	if r.daprHTTPPort != 0 {
		msg += fmt.Sprintf(", DAPR_HTTP_PORT=%d", r.daprHTTPPort)
	}
	e.opts.Events(Event{Kind: EventReplicaStart, App: a.name, Replica: r.name, Message: msg})
	return nil
}

func (e *Env) appProtocol(a *appRuntime) string {
	if d := a.entry.App.Properties.Configuration.Dapr; d != nil && d.AppProtocol != "" {
		return d.AppProtocol
	}
	return "http"
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
func (e *Env) replicaEnv(a *appRuntime, r *replicaRuntime) []string {
	domain := e.spec.Domain
	proxy := "http://" + e.internalLn.Addr().String()
	env := append(os.Environ(), a.env...)
	env = append(env,
		"PORT="+strconv.Itoa(r.port),
		"CONTAINER_APP_NAME="+a.name,
		"CONTAINER_APP_REVISION="+a.revision,
		"CONTAINER_APP_REPLICA_NAME="+r.name,
		"CONTAINER_APP_HOSTNAME="+a.revision+"."+domain,
		"CONTAINER_APP_ENV_DNS_SUFFIX="+domain,
		"CONTAINER_APP_PORT="+strconv.Itoa(r.port),
		// Lower- and upper-case: curl reads only http_proxy, Go both.
		// Loopback is excluded so calls to the sidecar go direct; names
		// under the domain ("<app>.localhost") must go through the proxy.
		"HTTP_PROXY="+proxy, "http_proxy="+proxy,
		"NO_PROXY=127.0.0.1,::1", "no_proxy=127.0.0.1,::1",
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
	env = append(env, extraPortEnv(r.extraPorts)...)
	if r.daprHTTPPort != 0 {
		env = append(env,
			"APP_ID="+a.daprAppID,
			"DAPR_HTTP_PORT="+strconv.Itoa(r.daprHTTPPort),
			"DAPR_GRPC_PORT="+strconv.Itoa(r.daprGRPCPort),
			"DAPR_HTTP_ENDPOINT=http://127.0.0.1:"+strconv.Itoa(r.daprHTTPPort),
			"DAPR_GRPC_ENDPOINT=127.0.0.1:"+strconv.Itoa(r.daprGRPCPort),
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

// aliases are the host labels the app's active revision answers to besides
// its name, as in ACA: each traffic label that points at it
// ("<app>---<label>"). cove runs one revision per app, so a label naming
// another revision has no target.
func (a *appRuntime) aliases() []string {
	var out []string
	in := a.entry.App.Properties.Configuration.Ingress
	if in == nil {
		return out
	}
	for _, tw := range in.Traffic {
		if tw.Label != "" && (tw.LatestRevision || tw.RevisionName == a.revision) {
			out = append(out, a.name+"---"+tw.Label)
		}
	}
	return out
}
