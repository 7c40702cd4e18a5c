package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/engine"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// Inside a pod, the replica's Dapr sidecar is at ACA's ports, as inside a
// process replica's network namespace.
const (
	podDaprHTTPPort = spec.NamespaceDaprHTTPPort
	podDaprGRPCPort = spec.NamespaceDaprGRPCPort
)

// podGraceExtra is how much longer than a revision's grace the supervisor
// gives a pod runner: the runner stops the containers with the grace
// itself, then removes the pod.
const podGraceExtra = 15 * time.Second

// containerApps returns the apps that run their images.
func (e *Env) containerApps() []string {
	var apps []string
	for _, entry := range e.spec.Apps {
		if entry.Containers() {
			apps = append(apps, entry.App.Name)
		}
	}
	return apps
}

// startEngine finds the container engine when an app needs one and removes
// the pods a previous run of this environment left (a cove killed before
// it could). Without an engine the container apps' replicas fail, with the
// error saying how to get one; process apps run.
func (e *Env) startEngine(ctx context.Context) {
	e.findEngine(ctx, e.containerApps())
}

// ensureEngine finds the container engine for an app a reload adds or
// rebuilds, unless the environment has looked for one already.
func (e *Env) ensureEngine(ctx context.Context, app string) {
	if e.engine == nil && e.engineErr == nil {
		e.findEngine(ctx, []string{app})
	}
}

// findEngine is startEngine for the given container-mode apps.
func (e *Env) findEngine(ctx context.Context, apps []string) {
	if len(apps) == 0 {
		return
	}
	if len(e.opts.PodRunner) == 0 {
		e.engineErr = fmt.Errorf("%w: this build of cove cannot run pods", engine.ErrNoEngine)
		return
	}
	eng, err := engine.Detect(ctx)
	if err != nil {
		who := "app " + apps[0] + " runs its images and needs"
		if len(apps) > 1 {
			who = "apps " + strings.Join(apps, ", ") + " run their images and need"
		}
		e.engineErr = fmt.Errorf("%s a container engine: %w", who, err)
		e.log.Error("no container engine", "apps", strings.Join(apps, ", "), "err", err)
		return
	}
	e.engine = eng
	// Killed, cove cannot remove its pods: its guardian does.
	e.guardian.AtDeath(append(slices.Clone(e.opts.PodRunner), "--remove-env", e.envID(), "--engine", eng.Name, "--engine-bin", eng.Bin))
	pods, containers, err := eng.RemoveEnv(ctx, e.envID())
	if err != nil {
		e.log.Warn("removing the pods of a previous run", "err", err)
	}
	if pods+containers > 0 {
		e.log.Warn(fmt.Sprintf("removed %d pods (%d containers) a previous run of this environment left behind", pods, containers))
	}
}

// envID names the environment on the engine's pods and containers.
func (e *Env) envID() string { return EnvID(e.spec.File) }

// EnvID is the value of the engine.LabelEnv label on the pods and
// containers of the environment of file (an absolute path): the same for
// every run of it.
func EnvID(file string) string {
	sum := sha256.Sum256([]byte(file))
	return hex.EncodeToString(sum[:])[:12]
}

// podReplicaSpec turns the supervisor spec of a container replica into the
// pod runner: its PodSpec goes in the runner's environment, its probes are
// pointed at the published ports.
func (e *Env) podReplicaSpec(rev *revisionRuntime, r *replicaRuntime, rs supervisor.ReplicaSpec) (supervisor.ReplicaSpec, error) {
	if e.engine == nil {
		err := e.engineErr
		if err == nil {
			err = engine.ErrNoEngine
		}
		return rs, err
	}
	ps, err := e.podSpec(rev, r)
	if err != nil {
		return rs, err
	}
	// Probes dial the machine's end of a published port; a probe on a
	// port nothing publishes gets one.
	probes := slices.Clone(rev.probes)
	for i, p := range probes {
		port := 0
		switch {
		case p.TCPSocket != nil:
			port = p.TCPSocket.Port
		case p.HTTPGet != nil:
			port = p.HTTPGet.Port
		}
		host := 0
		for _, pub := range ps.Publish {
			if pub.ContainerPort == port {
				host = pub.HostPort
			}
		}
		if host == 0 {
			if host, err = e.ports.free(); err != nil {
				return rs, err
			}
			ps.Publish = append(ps.Publish, engine.Publish{HostPort: host, ContainerPort: port})
		}
		if p.TCPSocket != nil {
			t := *p.TCPSocket
			t.Port = host
			probes[i].TCPSocket = &t
		} else {
			h := *p.HTTPGet
			h.Port = host
			probes[i].HTTPGet = &h
		}
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return rs, err
	}
	rs.Command, rs.Shell, rs.Hosts, rs.Port = e.opts.PodRunner, false, "", 0
	rs.Env = append(os.Environ(), engine.SpecVar+"="+string(b), engine.EngineVar+"="+e.engine.Name, engine.BinVar+"="+e.engine.Bin)
	rs.Probes = probes
	rs.TerminationGrace = rev.grace + podGraceExtra
	return rs, nil
}

// podSpec is replica r as a pod: the template's containers and init
// containers with their env, volumes and limits, the app's ports
// published on the machine's loopback, the sidecar and the other apps
// reachable inside.
func (e *Env) podSpec(rev *revisionRuntime, r *replicaRuntime) (engine.PodSpec, error) {
	a, entry := rev.app, rev.entry
	tmpl := entry.App.Properties.Template
	ps := engine.PodSpec{
		Name:   e.podName(r.name),
		Labels: map[string]string{engine.LabelEnv: e.envID(), engine.LabelReplica: r.name},
		Grace:  rev.grace,
	}
	if len(a.containerPorts) > 0 {
		ps.Publish = append(ps.Publish, engine.Publish{HostPort: r.port, ContainerPort: a.containerPorts[0]})
	}
	for target, own := range r.extraPorts {
		ps.Publish = append(ps.Publish, engine.Publish{HostPort: own, ContainerPort: target})
	}
	if r.daprHTTPPort != 0 {
		ps.Forwards = append(ps.Forwards,
			engine.Forward{Listen: "127.0.0.1:" + strconv.Itoa(podDaprHTTPPort), Target: "127.0.0.1:" + strconv.Itoa(r.daprHTTPPort)},
			engine.Forward{Listen: "127.0.0.1:" + strconv.Itoa(podDaprGRPCPort), Target: "127.0.0.1:" + strconv.Itoa(r.daprGRPCPort)})
	}
	// The ports the pod's own containers listen on.
	own := map[int]bool{}
	for _, p := range ps.Publish {
		own[p.ContainerPort] = true
	}
	if e.names != nil {
		// The apps resolve to the addresses they have on the machine, and
		// the edge's ports there are relayed from the same address in the
		// pod (all of 127/8 is the pod's own loopback).
		for _, other := range e.names.Apps() {
			if addr, ok := e.names.Addr(other); ok {
				ps.Hosts = append(ps.Hosts, engine.Host{Name: other, Addr: addr.String()},
					engine.Host{Name: other + ".internal." + e.spec.Domain, Addr: addr.String()})
			}
		}
	}
	ps.Forwards = append(ps.Forwards, e.appForwards(own)...)
	var err error
	if ps.AuthFile, err = e.registryAuth(entry, r.name); err != nil {
		return ps, err
	}
	mounts, err := e.podVolumes(entry, r.name)
	if err != nil {
		return ps, err
	}
	contract := e.podEnv(rev, r)
	container := func(c spec.BaseContainer) (engine.ContainerSpec, error) {
		env, err := containerEnv(entry.App, c.Env, entry.Secrets)
		if err != nil {
			return engine.ContainerSpec{}, fmt.Errorf("app %s, container %s: %w", a.name, c.Name, err)
		}
		env = append(env, envList(entry.Env)...)
		cs := engine.ContainerSpec{
			Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args,
			Env: dedupeEnv(append(env, contract...)),
		}
		for _, m := range c.VolumeMounts {
			src, ok := mounts[m.VolumeName]
			if !ok {
				return cs, fmt.Errorf("app %s, container %s: volumeMounts names the volume %q, which the template's volumes do not declare", a.name, c.Name, m.VolumeName)
			}
			cs.Mounts = append(cs.Mounts, src.withTarget(m.MountPath))
		}
		if res := c.Resources; res != nil {
			if res.CPU > 0 && e.limitable("cpu", e.engine.CPU) {
				cs.CPU = res.CPU
			}
			if res.Memory != "" && e.limitable("memory", e.engine.Memory) {
				if cs.Memory, err = memoryBytes(res.Memory); err != nil {
					return cs, fmt.Errorf("app %s, container %s: resources.memory: %w", a.name, c.Name, err)
				}
			}
		}
		return cs, nil
	}
	for _, c := range tmpl.InitContainers {
		cs, err := container(c.BaseContainer)
		if err != nil {
			return ps, err
		}
		ps.Init = append(ps.Init, cs)
	}
	for _, c := range tmpl.Containers {
		cs, err := container(c.BaseContainer)
		if err != nil {
			return ps, err
		}
		ps.Containers = append(ps.Containers, cs)
	}
	return ps, nil
}

// podEnv is the contract every container of an ACA replica gets.
func (e *Env) podEnv(rev *revisionRuntime, r *replicaRuntime) []string {
	a, domain := rev.app, e.spec.Domain
	env := []string{
		"CONTAINER_APP_NAME=" + a.name,
		"CONTAINER_APP_REVISION=" + rev.name,
		"CONTAINER_APP_REPLICA_NAME=" + r.name,
		"CONTAINER_APP_HOSTNAME=" + rev.name + "." + domain,
		"CONTAINER_APP_ENV_DNS_SUFFIX=" + domain,
	}
	if len(a.containerPorts) > 0 {
		env = append(env, "CONTAINER_APP_PORT="+strconv.Itoa(a.containerPorts[0]))
	}
	if r.daprHTTPPort != 0 {
		env = append(env,
			"APP_ID="+a.daprAppID,
			"DAPR_HTTP_PORT="+strconv.Itoa(podDaprHTTPPort),
			"DAPR_GRPC_PORT="+strconv.Itoa(podDaprGRPCPort))
	}
	return env
}

// podMount is a volume's directory on the machine.
type podMount struct {
	dir      string
	readOnly bool
}

func (m podMount) withTarget(target string) engine.Mount {
	return engine.Mount{Source: m.dir, Target: target, ReadOnly: m.readOnly}
}

// podVolumes prepares the template's volumes for replica under the state
// directory: an empty directory for EmptyDir, a file per secret for Secret;
// an AzureFile volume is its storage's directory (cove.yaml's storages).
func (e *Env) podVolumes(entry *spec.AppEntry, replica string) (map[string]podMount, error) {
	vols := entry.App.Properties.Template.Volumes
	out := map[string]podMount{}
	if len(vols) == 0 {
		return out, nil
	}
	base := filepath.Join(e.stateDir, "volumes", replica)
	// A replica's volumes start empty, as a new pod's do in ACA.
	if err := os.RemoveAll(base); err != nil {
		return nil, fmt.Errorf("volumes of %s: %w", replica, err)
	}
	for _, v := range vols {
		dir := filepath.Join(base, v.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("volume %s of %s: %w", v.Name, replica, err)
		}
		switch v.StorageType {
		case "", "EmptyDir":
			if err := os.Chmod(dir, 0o777); err != nil {
				return nil, fmt.Errorf("volume %s of %s: %w", v.Name, replica, err)
			}
			out[v.Name] = podMount{dir: dir}
		case "Secret":
			if err := writeSecretVolume(entry, v, dir); err != nil {
				return nil, fmt.Errorf("app %s, volume %s: %w", entry.App.Name, v.Name, err)
			}
			out[v.Name] = podMount{dir: dir, readOnly: true}
		case "AzureFile":
			// The storage's local directory itself (spec checked it is
			// mapped): shared by every replica, as a file share is.
			out[v.Name] = podMount{dir: e.spec.Storages[v.StorageName]}
		default:
			return nil, fmt.Errorf("app %s, volume %s: storageType %s is not run in container mode yet (EmptyDir, Secret and AzureFile are)", entry.App.Name, v.Name, v.StorageType)
		}
	}
	return out, nil
}

// writeSecretVolume writes a file per secret: the ones the volume lists
// (at their path, else named as the secret), or every secret of the app.
func writeSecretVolume(entry *spec.AppEntry, v spec.Volume, dir string) error {
	items := v.Secrets
	if len(items) == 0 {
		for _, s := range entry.App.Properties.Configuration.Secrets {
			items = append(items, spec.SecretVolumeItem{SecretRef: s.Name})
		}
	}
	for _, it := range items {
		val, ok := entry.App.SecretValue(it.SecretRef, entry.Secrets)
		if !ok {
			return fmt.Errorf("secret %q has no value that can be read locally; give it one under the app's `secrets:` in cove.yaml", it.SecretRef)
		}
		name := it.Path
		if name == "" {
			name = it.SecretRef
		}
		path := filepath.Join(dir, filepath.Clean("/"+name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(val), 0o444); err != nil {
			return err
		}
	}
	return nil
}

// memoryBytes reads a Kubernetes quantity such as "0.5Gi" or "512Mi".
func memoryBytes(q string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	num, mult := q, 1.0
	for _, u := range units {
		if strings.HasSuffix(q, u.suffix) {
			num, mult = strings.TrimSuffix(q, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a quantity of memory such as 512Mi or 1Gi", q)
	}
	return int64(f * mult), nil
}

// podName is the engine's name of a replica's pod.
func (e *Env) podName(replica string) string { return "cove-" + e.envID() + "-" + replica }

// addContainers fills in the containers of the container-mode replicas in
// st, from one listing of the engine's.
func (e *Env) addContainers(ctx context.Context, st *Status) {
	if e.engine == nil {
		return
	}
	cs, err := e.engine.Containers(ctx, engine.LabelEnv, e.envID())
	if err != nil {
		e.log.Warn("listing the replicas' containers", "err", err)
		return
	}
	byReplica := map[string][]ContainerStatus{}
	for _, c := range cs {
		name, ok := c.Labels[engine.LabelContainer]
		if !ok {
			continue // the pod's infra container
		}
		r := c.Labels[engine.LabelReplica]
		byReplica[r] = append(byReplica[r], ContainerStatus{Name: name, Image: c.Image, ID: c.ID, State: c.State})
	}
	for i := range st.Apps {
		for j := range st.Apps[i].Replicas {
			rs := &st.Apps[i].Replicas[j]
			rs.Containers = byReplica[rs.Name]
		}
	}
}

// limitable reports whether the engine can apply a limit of resource
// (ok); when it cannot, it warns, once per resource.
func (e *Env) limitable(resource string, ok bool) bool {
	if !ok {
		if _, warned := e.limitWarned.LoadOrStore(resource, true); !warned {
			e.log.Warn("containers run without their resources."+resource+" limits: the engine's cgroups have no "+resource+" controller on this machine", "engine", e.engine.Name)
		}
	}
	return ok
}

// removePods removes what the replicas' pod runners could not, once every
// replica has stopped: the pods of runners killed at once (a second
// Ctrl-C) or after their grace.
func (e *Env) removePods() {
	if e.engine == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, _, err := e.engine.RemoveEnv(ctx, e.envID())
	if err != nil {
		e.log.Warn("removing the replicas' pods", "err", err)
	} else if pods > 0 {
		e.log.Info("removed the pods of replicas that were killed", "pods", pods)
	}
}

// registryAuth writes the credentials of the app's configuration.registries
// for replica's pulls and returns the file, "" when it has none. A registry
// that logs in with a managed identity is left to the engine's own login.
func (e *Env) registryAuth(entry *spec.AppEntry, replica string) (string, error) {
	var creds []engine.Credentials
	for i, reg := range entry.App.Properties.Configuration.Registries {
		if reg.PasswordSecretRef == "" {
			continue
		}
		pw, ok := entry.App.SecretValue(reg.PasswordSecretRef, entry.Secrets)
		if !ok {
			return "", fmt.Errorf("app %s: configuration.registries[%d].passwordSecretRef: secret %q has no value that can be read locally; give it one under the app's `secrets:` in cove.yaml", entry.App.Name, i, reg.PasswordSecretRef)
		}
		creds = append(creds, engine.Credentials{Server: reg.Server, Username: reg.Username, Password: pw})
	}
	if len(creds) == 0 {
		return "", nil
	}
	path := filepath.Join(e.stateDir, "auth", replica, "config.json")
	if err := engine.WriteAuthFile(path, creds); err != nil {
		return "", fmt.Errorf("app %s: registry credentials: %w", entry.App.Name, err)
	}
	return path, nil
}
