// Package engine runs an app's images with the container engine on the
// machine (podman), driven through its command line: a pod per replica,
// labelled with the environment so that every pod cove started can be found
// and removed again, also after cove was killed.
package engine

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// Install says how to get an engine, for the error when none is found.
const Install = "install podman (Debian, Ubuntu: apt-get install podman; Fedora: dnf install podman; macOS: brew install podman) " +
	"or set `runtime: process` and a `command` for the app in cove.yaml"

// ErrNoEngine is returned by Detect when no engine that runs pods works.
var ErrNoEngine = errors.New("no container engine")

// Engine is a container engine's command line.
type Engine struct {
	// Name is "podman".
	Name string
	// Bin is the path of its executable.
	Bin string
	// CPU and Memory say whether the engine can limit a container's CPU
	// and memory: its cgroups have the controllers (rootless podman on
	// cgroups v1 has none, for one).
	CPU, Memory bool
}

// Detect finds a working engine: podman, whose `podman info` answers.
// Docker has no pods, which replicas are; one found is named in the error.
func Detect(ctx context.Context) (*Engine, error) {
	var tried []string
	if bin, err := exec.LookPath("podman"); err == nil {
		e := &Engine{Name: "podman", Bin: bin}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		// A listing reads the engine's storage and configuration, as every
		// call will, in a tenth of `podman info`'s time.
		if _, err := e.Output(ctx, "ps", "-q", "--filter", "label="+LabelEnv+"=none"); err != nil {
			return nil, fmt.Errorf("%w: podman is installed but does not work (%v); %s", ErrNoEngine, err, Install)
		}
		controllers := cgroupControllers()
		e.CPU, e.Memory = slices.Contains(controllers, "cpu"), slices.Contains(controllers, "memory")
		return e, nil
	}
	tried = append(tried, "podman not found in PATH")
	if _, err := exec.LookPath("docker"); err == nil {
		tried = append(tried, "docker is installed but has no pods, which cove runs replicas as")
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
	ID      string            `json:"Id"`
	Names   []string          `json:"Names"`
	Image   string            `json:"Image"`
	Pod     string            `json:"Pod"`
	State   string            `json:"State"`
	Labels  map[string]string `json:"Labels"`
	Created json.RawMessage   `json:"Created"`
}

// Containers lists every container, running or not, with the label
// key=value.
func (e *Engine) Containers(ctx context.Context, key, value string) ([]Container, error) {
	out, err := e.Output(ctx, "ps", "-a", "--filter", "label="+key+"="+value, "--format", "json")
	if err != nil {
		return nil, err
	}
	var cs []Container
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("%s ps: %w", e.Name, err)
	}
	return cs, nil
}

// pod is a pod the engine lists.
type pod struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
}

// RemoveEnv removes every pod and container of environment env, running or
// not, and returns how many pods and containers there were.
func (e *Engine) RemoveEnv(ctx context.Context, env string) (pods, containers int, err error) {
	cs, err := e.Containers(ctx, LabelEnv, env)
	if err != nil {
		return 0, 0, err
	}
	out, err := e.Output(ctx, "pod", "ps", "--filter", "label="+LabelEnv+"="+env, "--format", "json")
	if err != nil {
		return 0, 0, err
	}
	var ps []pod
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &ps); err != nil {
			return 0, 0, fmt.Errorf("%s pod ps: %w", e.Name, err)
		}
	}
	var errs []error
	for _, p := range ps {
		if _, err := e.Output(ctx, "pod", "rm", "-f", "-t", "0", p.ID); err != nil {
			errs = append(errs, err)
		}
	}
	// Containers outside a pod (none are made so, but one may be left by
	// a failed create) go one by one.
	for _, c := range cs {
		if c.Pod == "" {
			if _, err := e.Output(ctx, "rm", "-f", "-t", "0", c.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return len(ps), len(cs), errors.Join(errs...)
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
