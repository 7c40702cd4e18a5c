package engine

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/netns"
)

// PodSpec is one replica as a pod: what cove's pod runner (RunPod) is
// given by the control plane.
type PodSpec struct {
	// Name is the pod's name; containers are named <Name>-<container>.
	Name string `json:"name"`
	// Labels go on the pod and every container (LabelEnv, LabelReplica).
	Labels map[string]string `json:"labels"`
	// Publish maps a loopback port of the machine to a port in the pod.
	Publish []Publish `json:"publish,omitempty"`
	// Hosts are /etc/hosts entries of the pod: a name and its address.
	Hosts []Host `json:"hosts,omitempty"`
	// Forwards are addresses inside the pod relayed to addresses of the
	// machine (the Dapr sidecar, the edge on the apps' addresses).
	Forwards []Forward `json:"forwards,omitempty"`
	// Init run in order, each to exit 0, before Containers start.
	Init       []ContainerSpec `json:"init,omitempty"`
	Containers []ContainerSpec `json:"containers"`
	// Grace is how long containers have between SIGTERM and SIGKILL.
	Grace time.Duration `json:"grace"`
	// AuthFile, when set, holds the credentials images are pulled with
	// (WriteAuthFile); it is named config.json, as docker reads it from
	// its directory.
	AuthFile string `json:"authFile,omitempty"`
}

// Publish is a published port.
type Publish struct {
	HostPort      int `json:"hostPort"`
	ContainerPort int `json:"containerPort"`
}

// Host is an /etc/hosts entry.
type Host struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Forward relays connections to Listen, inside the pod, to Target, on the
// machine.
type Forward = netns.Forward

// ContainerSpec is one container of a pod.
type ContainerSpec struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Command replaces the image's entrypoint, Args its command.
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Env is KEY=VALUE.
	Env    []string `json:"env,omitempty"`
	Mounts []Mount  `json:"mounts,omitempty"`
	// CPU in cores and Memory in bytes limit the container; zero is none.
	CPU    float64 `json:"cpu,omitempty"`
	Memory int64   `json:"memory,omitempty"`
}

// Mount binds a directory of the machine into a container.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// ContainerName is the engine's name of container c of pod.
func ContainerName(pod, c string) string { return pod + "-" + c }

// RunPod runs spec as a replica: it creates the pod, relays the forwards
// (and, where the engine does not publish them, the published ports) into
// it, runs the init containers in order and then the containers, and
// returns when one of them exits or ctx ends (the replica is stopping);
// either way the pod is stopped, with Grace, and removed. Container output
// goes to stdout and stderr, each line prefixed with the container's name
// when the pod has more than one. The error says why the pod ended, nil
// when it was stopped.
func RunPod(ctx context.Context, e *Engine, spec PodSpec, stdout, stderr io.Writer, log *slog.Logger) error {
	rm := func() {
		// A fresh context: ctx has ended when the replica stops.
		c, cancel := context.WithTimeout(context.Background(), spec.Grace+30*time.Second)
		defer cancel()
		if err := e.pods.remove(c, e, spec); err != nil {
			log.Warn("removing the replica's pod", "pod", spec.Name, "err", err)
		}
	}
	defer rm()

	if err := e.pods.create(ctx, e, spec); err != nil {
		// A pod of the same name is the leftover of a runner that was
		// killed; checking for one first would cost every start a call.
		if !strings.Contains(err.Error(), "already in use") && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		rm()
		if err := e.pods.create(ctx, e, spec); err != nil {
			return err
		}
	}
	relayed := !e.pods.publishes() && len(spec.Publish) > 0
	if len(spec.Forwards) > 0 || relayed {
		stop, err := relay(ctx, e, spec, relayed, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	prefix := len(spec.Init)+len(spec.Containers) > 1
	for _, c := range spec.Init {
		cmd := e.runCommand(ctx, spec, c, prefix, stdout, stderr)
		if err := cmd.run(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("init container %s: %w; the app's containers do not start", c.Name, err)
		}
	}

	cmds := make([]*containerRun, len(spec.Containers))
	exited := make(chan error, len(cmds))
	for i, c := range spec.Containers {
		cmds[i] = e.runCommand(context.Background(), spec, c, prefix, stdout, stderr)
		if err := cmds[i].start(); err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
		go func() {
			err := cmds[i].wait()
			if err == nil {
				err = errors.New("exited with code 0")
			}
			exited <- fmt.Errorf("container %s: %w", c.Name, err)
		}()
	}
	var why error
	select {
	case why = <-exited:
	case <-ctx.Done():
	}
	// Stopping the pod stops every container with Grace; the engine's
	// `run` returns once its container is gone.
	rm()
	for _, c := range cmds {
		c.wait()
	}
	return why
}

// relay serves the pod's end of spec's forwards from sockets cove's process
// opens in the pod's network namespace (nothing is added to the pod), and,
// with ports, relays each published port of the machine's loopback to the
// pod's. stop closes them all.
func relay(ctx context.Context, e *Engine, spec PodSpec, ports bool, log *slog.Logger) (stop func(), err error) {
	out, err := e.Output(ctx, "container", "inspect", "--format", "{{.State.Pid}}", InfraName(spec.Name))
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("the pod's network namespace: no process id in %q", out)
	}
	ns, err := netns.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
		ns.Close()
	}
	if len(spec.Forwards) > 0 {
		s, err := ns.Forward(spec.Forwards, log)
		if err != nil {
			stop()
			return nil, fmt.Errorf("the pod's network namespace: %w", err)
		}
		stops = append(stops, s)
	}
	if ports {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		stops = append(stops, func() { cancel(); wg.Wait() })
		for _, p := range spec.Publish {
			wg.Go(func() { publish(ctx, ns, p, log) })
		}
	}
	return stop, nil
}

// publish relays the machine's loopback port p.HostPort to the pod's
// p.ContainerPort until ctx ends. The machine's port opens only once the
// pod's accepts, so that, as with a port the engine publishes, a probe
// connects only once the app listens.
func publish(ctx context.Context, ns *netns.Namespace, p Publish, log *slog.Logger) {
	target := "127.0.0.1:" + strconv.Itoa(p.ContainerPort)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := ns.DialContext(dctx, "tcp", target)
		cancel()
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.HostPort))
	if err != nil {
		log.Error("publishing the pod's port", "port", p.ContainerPort, "err", err)
		return
	}
	stop := ns.Expose(ln, target, log)
	<-ctx.Done()
	stop()
}

// containerRun is one `run` of a container by the engine, attached.
type containerRun struct {
	cmd     *exec.Cmd
	outputs sync.WaitGroup
	once    sync.Once
	err     error
}

func (e *Engine) runCommand(ctx context.Context, spec PodSpec, c ContainerSpec, prefix bool, stdout, stderr io.Writer) *containerRun {
	args := append(e.pods.runArgs(spec), "--rm", "--name", ContainerName(spec.Name, c.Name), "--stop-timeout", graceSeconds(spec))
	labels := map[string]string{LabelContainer: c.Name}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	args = append(args, labelArgs(labels)...)
	env := os.Environ()
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		if engineVar(k) {
			// The engine reads this one itself: given on the command line.
			args = append(args, "-e", kv)
			continue
		}
		// Given by name, the value comes from the engine's environment
		// and stays off command lines other users can read.
		args = append(args, "-e", k)
		env = append(env, kv)
	}
	for _, m := range c.Mounts {
		opt := m.Source + ":" + m.Target
		if m.ReadOnly {
			opt += ":ro"
		}
		args = append(args, "-v", opt)
	}
	if c.CPU > 0 {
		args = append(args, "--cpus", strconv.FormatFloat(c.CPU, 'f', -1, 64))
	}
	if c.Memory > 0 {
		args = append(args, "--memory", strconv.FormatInt(c.Memory, 10)+"b")
	}
	cmdArgs := c.Args
	if len(c.Command) > 0 {
		var rest []string
		args, rest = e.pods.entrypoint(args, c.Command)
		cmdArgs = slices.Concat(rest, c.Args)
	}
	args = append(args, c.Image)
	args = append(args, cmdArgs...)
	cmd := e.Command(ctx, args...)
	cmd.Env = env
	r := &containerRun{cmd: cmd}
	p := ""
	if prefix {
		p = c.Name + ": "
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cmd.Stdout, cmd.Stderr = outW, errW
	r.outputs.Go(func() { copyLines(stdout, outR, p) })
	r.outputs.Go(func() { copyLines(stderr, errR, p) })
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	return r
}

func (r *containerRun) start() error { return r.cmd.Start() }

func (r *containerRun) wait() error {
	r.once.Do(func() {
		r.err = r.cmd.Wait()
		r.cmd.Stdout.(*io.PipeWriter).Close()
		r.cmd.Stderr.(*io.PipeWriter).Close()
		r.outputs.Wait()
		var ee *exec.ExitError
		if errors.As(r.err, &ee) {
			r.err = fmt.Errorf("exited with code %d", ee.ExitCode())
		}
	})
	return r.err
}

func (r *containerRun) run() error {
	if err := r.start(); err != nil {
		return err
	}
	return r.wait()
}

// copyLines copies r to w line by line, each line prefixed with p.
func copyLines(w io.Writer, r io.Reader, p string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		_, _ = io.WriteString(w, p+sc.Text()+"\n")
	}
	_, _ = io.Copy(io.Discard, r)
}

// engineVar reports whether the engine itself reads variable k, so a
// container's value for it must not be in the engine's environment.
func engineVar(k string) bool {
	switch k {
	case "PATH", "HOME", "TMPDIR", "USER", "LANG", "SHELL":
		return true
	}
	return strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "CONTAINERS_") || strings.HasPrefix(k, "LC_") ||
		strings.HasPrefix(k, "BUILDAH_") || strings.HasPrefix(k, "PODMAN_") || strings.HasPrefix(k, "STORAGE_") ||
		strings.HasPrefix(k, "DOCKER_")
}

func labelArgs(labels map[string]string) []string {
	var args []string
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	return args
}

func jsonArray(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The variables a pod runner reads: its PodSpec as JSON, the engine's name
// and its executable.
const (
	SpecVar   = "COVE_POD_SPEC"
	EngineVar = "COVE_POD_ENGINE"
	BinVar    = "COVE_POD_ENGINE_BIN"
)

// Credentials are a registry's user name and password.
type Credentials struct {
	Server, Username, Password string
}

// WriteAuthFile writes the credentials as an auth file of the engines'
// (podman's containers-auth.json, docker's config.json: the same
// "auths"), readable by its owner only.
func WriteAuthFile(path string, creds []Credentials) error {
	type auth struct {
		Auth string `json:"auth"`
	}
	auths := map[string]auth{}
	for _, c := range creds {
		auths[c.Server] = auth{Auth: base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
