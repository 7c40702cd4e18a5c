// Package engine runs an app's images with the container engine on the
// machine (podman, else docker), driven through its command line: a pod per
// replica (docker has none: an infra container whose network the others
// join), labelled with the environment so that every pod cove started can be
// found and removed again, also after cove was killed.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Labels cove puts on every pod and container it creates.
const (
	// LabelEnv names the environment (EnvID), so the pods of one
	// environment are found and removed together.
	LabelEnv = "cove.env"
	// LabelReplica names the replica a pod or container belongs to.
	LabelReplica = "cove.replica"
	// LabelContainer names the template container a container runs.
	LabelContainer = "cove.container"
	// LabelPod names the pod a container belongs to, where the engine
	// has no pods (docker).
	LabelPod = "cove.pod"
)

// Install says how to get an engine, for the error when none is found.
const Install = "install podman (Debian, Ubuntu: apt-get install podman; Fedora: dnf install podman; macOS: brew install podman) " +
	"or docker (Debian, Ubuntu: apt-get install docker.io, with dockerd running), " +
	"or set `runtime: process` and a `command` for the app in cove.yaml"

// ChoiceVar names the engine to use ("podman" or "docker") instead of
// the first that works.
const ChoiceVar = "COVE_ENGINE"

// ErrNoEngine is returned by Detect when no engine that runs pods works.
var ErrNoEngine = errors.New("no container engine")

// Engine is a container engine's command line.
type Engine struct {
	// Name is "podman" or "docker".
	Name string
	// Bin is the path of its executable.
	Bin string
	// CPU and Memory say whether the engine can limit a container's CPU
	// and memory: its cgroups have the controllers (rootless podman on
	// cgroups v1 has none, for one).
	CPU, Memory bool

	pods pods
}

// Names are the engines cove drives, in the order Detect tries them:
// podman first, as it runs no daemon.
var Names = []string{"podman", "docker"}

// New is the engine name (one of Names) whose executable is bin.
func New(name, bin string) (*Engine, error) {
	e := &Engine{Name: name, Bin: bin}
	switch name {
	case "podman":
		e.pods = podmanPods{}
	case "docker":
		e.pods = dockerPods{}
	default:
		return nil, fmt.Errorf("%w: %q is not an engine cove drives (%s)", ErrNoEngine, name, strings.Join(Names, ", "))
	}
	return e, nil
}

// Detect finds a working engine: the one $COVE_ENGINE names, else the
// first of Names that is installed and answers.
func Detect(ctx context.Context) (*Engine, error) {
	names := Names
	if choice := os.Getenv(ChoiceVar); choice != "" {
		if !slices.Contains(Names, choice) {
			return nil, fmt.Errorf("%w: $%s is %q; set it to one of %s, or unset it to use the first that works", ErrNoEngine, ChoiceVar, choice, strings.Join(Names, ", "))
		}
		names = []string{choice}
	}
	return detect(ctx, names)
}

// detect is the first of names that is installed and answers.
func detect(ctx context.Context, names []string) (*Engine, error) {
	var tried []string
	for _, name := range names {
		bin, err := exec.LookPath(name)
		if err != nil {
			tried = append(tried, name+" not found in PATH")
			continue
		}
		e, err := New(name, bin)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		// A listing reads the engine's storage and configuration (or asks
		// docker's daemon), as every call will, in a tenth of `info`'s time.
		_, err = e.Output(ctx, "ps", "-q", "--filter", "label="+LabelEnv+"=none")
		cancel()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s is installed but does not work (%v)", name, err))
			continue
		}
		controllers := cgroupControllers()
		e.CPU, e.Memory = slices.Contains(controllers, "cpu"), slices.Contains(controllers, "memory")
		return e, nil
	}
	return nil, fmt.Errorf("%w (%s); %s", ErrNoEngine, strings.Join(tried, ", "), Install)
}

// Command returns the engine command for args.
func (e *Engine) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.Bin, args...)
}

// Output runs the engine with args and returns its standard output; an
// error carries the command and what the engine wrote to standard error.
func (e *Engine) Output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := e.Command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, fmt.Errorf("%s %s: %s", e.Name, strings.Join(args, " "), msg)
	}
	return out, nil
}

// Container is a container the engine lists.
type Container struct {
	ID     string
	Names  []string
	Image  string
	State  string
	Labels map[string]string
}

// Containers lists every container, running or not, with the label
// key=value.
func (e *Engine) Containers(ctx context.Context, key, value string) ([]Container, error) {
	return e.pods.containers(ctx, e, key, value)
}

// RemoveEnv removes every pod and container of environment env, running or
// not, and returns how many pods and containers there were.
func (e *Engine) RemoveEnv(ctx context.Context, env string) (pods, containers int, err error) {
	return e.pods.removeEnv(ctx, e, env)
}

// cgroupControllers lists the machine's cgroup controllers, which rootful
// podman limits containers with: cgroups v2's list, or the hierarchies
// mounted for cgroups v1.
func cgroupControllers() []string {
	const root = "/sys/fs/cgroup"
	if b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil {
		return strings.Fields(string(b))
	}
	var out []string
	for _, c := range []string{"cpu", "memory"} {
		if st, err := os.Stat(filepath.Join(root, c)); err == nil && st.IsDir() {
			out = append(out, c)
		}
	}
	return out
}
