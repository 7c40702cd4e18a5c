package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// pods is what the engines do differently: how a replica's pod is made,
// joined, listed and removed. RunPod does the rest the same for both.
type pods interface {
	// create makes spec's pod and starts it, its network namespace held
	// by the infra container InfraName(spec.Name).
	create(ctx context.Context, e *Engine, spec PodSpec) error
	// publishes reports whether create published spec.Publish; otherwise
	// RunPod relays those ports into the pod's network namespace.
	publishes() bool
	// runArgs are the engine's arguments up to and including `run` and the
	// options that put a container in spec's pod.
	runArgs(spec PodSpec) []string
	// entrypoint adds to args the option that makes command (not empty)
	// the container's entrypoint, and returns what of it goes before the
	// container's args.
	entrypoint(args, command []string) (opts, rest []string)
	// remove stops the pod's containers with spec.Grace and removes them
	// and the pod; a pod that is not there is no error.
	remove(ctx context.Context, e *Engine, spec PodSpec) error
	containers(ctx context.Context, e *Engine, key, value string) ([]Container, error)
	removeEnv(ctx context.Context, e *Engine, env string) (pods, containers int, err error)
}

// InfraName is the engine's name of the container that holds pod's network
// namespace.
func InfraName(pod string) string { return pod + "-infra" }

// podmanPods are podman's own pods.
type podmanPods struct{}

func (podmanPods) create(ctx context.Context, e *Engine, spec PodSpec) error {
	args := []string{"pod", "create", "--name", spec.Name, "--infra-name", InfraName(spec.Name)}
	args = append(args, labelArgs(spec.Labels)...)
	for _, p := range spec.Publish {
		args = append(args, "-p", fmt.Sprintf("127.0.0.1:%d:%d", p.HostPort, p.ContainerPort))
	}
	for _, h := range spec.Hosts {
		args = append(args, "--add-host", h.Name+":"+h.Addr)
	}
	if _, err := e.Output(ctx, args...); err != nil {
		return err
	}
	_, err := e.Output(ctx, "pod", "start", spec.Name)
	return err
}

func (podmanPods) publishes() bool { return true }

func (podmanPods) runArgs(spec PodSpec) []string {
	args := []string{"run", "--pod", spec.Name}
	if spec.AuthFile != "" {
		args = append(args, "--authfile", spec.AuthFile)
	}
	return args
}

func (podmanPods) entrypoint(args, command []string) (opts, rest []string) {
	return append(args, "--entrypoint", jsonArray(command)), nil
}

func (podmanPods) remove(ctx context.Context, e *Engine, spec PodSpec) error {
	_, err := e.Output(ctx, "pod", "rm", "-f", "-i", "-t", graceSeconds(spec), spec.Name)
	return err
}

// podmanContainer is a container as `podman ps --format json` lists it.
type podmanContainer struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Image  string            `json:"Image"`
	Pod    string            `json:"Pod"`
	State  string            `json:"State"`
	Labels map[string]string `json:"Labels"`
}

func (podmanPods) list(ctx context.Context, e *Engine, key, value string) ([]podmanContainer, error) {
	out, err := e.Output(ctx, "ps", "-a", "--filter", "label="+key+"="+value, "--format", "json")
	if err != nil {
		return nil, err
	}
	var cs []podmanContainer
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("%s ps: %w", e.Name, err)
	}
	return cs, nil
}

func (p podmanPods) containers(ctx context.Context, e *Engine, key, value string) ([]Container, error) {
	cs, err := p.list(ctx, e, key, value)
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = Container{ID: c.ID, Names: c.Names, Image: c.Image, State: c.State, Labels: c.Labels}
	}
	return out, err
}

// podmanPod is a pod as `podman pod ps --format json` lists it.
type podmanPod struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
}

func (p podmanPods) removeEnv(ctx context.Context, e *Engine, env string) (pods, containers int, err error) {
	cs, err := p.list(ctx, e, LabelEnv, env)
	if err != nil {
		return 0, 0, err
	}
	out, err := e.Output(ctx, "pod", "ps", "--filter", "label="+LabelEnv+"="+env, "--format", "json")
	if err != nil {
		return 0, 0, err
	}
	var ps []podmanPod
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

// graceSeconds is spec's grace in whole seconds, as engines take it.
func graceSeconds(spec PodSpec) string {
	return strconv.Itoa(int(spec.Grace.Round(time.Second) / time.Second))
}
